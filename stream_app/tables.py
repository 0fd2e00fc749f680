"""The worker's RocksDB-backed changelog table.

One table, ``state``, holds two kinds of keys in the partition of the user's events:
``u:<user_id>`` -> the user's totals per board, name and last applied source offset (``scoring.UserState``);
``e:<event_id>`` -> the first answer for an event id (``scoring.EventRecord``), for the idempotency window.
Keeping both in one table puts them in one changelog partition, whose order the exactly-once argument
in ``scoring`` relies on.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import faust
import orjson
from faust.streams import _current_event  # Faust's own "current event" context variable
from faust.types import TP

log = logging.getLogger(__name__)

USER = "u:"
EVENT = "e:"


def create_state_table(app: Any, partitions: int) -> Any:
    schema: Any = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    return app.Table("state", default=None, partitions=partitions, schema=schema,
                     help="per-user totals and last offset (u:), first answers per event id (e:)")


def create_candidates_table(app: Any) -> Any:
    """Stage 2 of the boards: the latest local top-K list per ``<board>|<partition>`` (one partition)."""
    schema: Any = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    return app.Table("candidates", default=None, partitions=1, schema=schema,
                     help="latest local top-K list per board and source partition")


class TableWriter:
    """Writes to a RocksDB-backed Faust table as Faust does — local store first, then the changelog record to the
    partition of the current event — but straight through the app producer.

    Faust's own path (``table[key] = value``) queues every changelog record through its ``ProducerBuffer`` and
    ``Topic.send`` machinery, measured at roughly twice the cost per write. The records still go through the
    producer that Faust flushes before committing offsets, so the at-least-once argument holds; every write and
    delete of the ``state`` table goes through here, so their changelog order is the order of the calls.
    Call inside :func:`event_context` of the event that owns the key.
    """

    def __init__(self, app: Any, table: Any) -> None:
        self.app = app
        self.store = table.data
        self.topic = table.changelog_topic.get_topic_name()

    async def put(self, key: str, value: Any, partition: int) -> None:
        key_bytes = self.store._encode_key(key)
        value_bytes = self.store._encode_value(value)
        self.store._set(key_bytes, value_bytes)
        await self._send(key_bytes, value_bytes, partition)

    async def delete(self, key: str, partition: int) -> None:
        key_bytes = self.store._encode_key(key)
        self.store._del(key_bytes)
        await self._send(key_bytes, None, partition)

    async def _send(self, key: bytes, value: bytes | None, partition: int) -> None:
        future = await self.app.producer.send(self.topic, key, value, partition, None, None)
        future.add_done_callback(self._persisted)

    def _persisted(self, future: Any) -> None:
        """Remember the changelog offset the local store is known to hold (what Faust's own callback does)."""
        if future.cancelled() or future.exception() is not None:
            problem = "cancelled" if future.cancelled() else repr(future.exception())
            log.error("changelog write to %s failed: %s", self.topic, problem)
            return
        metadata = future.result()
        self.store.set_persisted_offset(TP(metadata.topic, metadata.partition), metadata.offset)


@contextlib.contextmanager
def event_context(event: Any) -> Iterator[None]:
    """Make ``event`` the current event while writing the table.

    Faust routes a table write to the changelog partition (and RocksDB partition) of the current event;
    ``stream.take_events`` hands over a batch without setting it per event, so each write sets it here.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def raw_partition_items(table: Any, partition: int, prefix: str = "") -> Iterator[tuple[bytes, bytes]]:
    """Raw (key, value) pairs of one partition of a RocksDB-backed table whose key starts with ``prefix``
    (Faust has no public API for it). Keys are JSON strings, so the prefix is matched before anything is decoded."""
    store = table.data
    db = store._dbs.get(partition)
    if db is None:
        return
    raw_prefix = orjson.dumps(prefix)[:-1]  # '"u:' without the closing quote
    for key, value in store._visible_items(db):
        if value is not None and key.startswith(raw_prefix):
            yield key, value


def partition_items(table: Any, partition: int, prefix: str = "") -> list[tuple[str, Any]]:
    """Decoded (key, value) pairs of one partition whose key starts with ``prefix``."""
    return [(orjson.loads(k), orjson.loads(v)) for k, v in raw_partition_items(table, partition, prefix)]


def expired_event_keys(table: Any, partition: int, now_ms: int, ttl_ms: int) -> list[str]:
    """``e:`` keys of a partition whose idempotency window is over."""
    return [orjson.loads(key) for key, value in raw_partition_items(table, partition, EVENT)
            if now_ms - int(orjson.loads(value)[3]) >= ttl_ms]
