"""The worker's RocksDB-backed changelog table.

One table, ``state``, holds two kinds of keys in the partition of the user's events:
``u:<user_id>`` -> the user's totals per board, name and last applied source offset (``scoring.UserState``);
``e:<user_id>\n<event_id>`` -> the first answer for an event id (``idempotency.EventRecord``), for the
idempotency window.
Keeping both in one table puts them in one changelog partition, whose order the exactly-once argument
in ``scoring`` relies on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import faust
import orjson
import rocksdict

from stream_app.faust_internals.store import items_from, persist_offset, rocksdb, visible_items
from stream_app.record_batches import RecordBatches

log = logging.getLogger(__name__)
PERSIST_EVERY_S = 1.0

USER = "u:"


def create_state_table(app: Any, partitions: int) -> Any:
    schema: Any = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    return app.Table("state", default=None, partitions=partitions, schema=schema,
                     help="per-user totals and last offset (u:), first answers per event id (e:)")


def create_candidates_table(app: Any) -> Any:
    """Stage 2 of the boards: the latest local top-K list per ``<board>|<partition>`` (one partition)."""
    schema: Any = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    return app.Table("candidates", default=None, partitions=1, schema=schema,
                     help="latest local top-K list per board and source partition")


class PartitionStore:
    """Reads and writes a RocksDB-backed Faust table by partition, for batch handlers (no current event).

    Faust's own path (``table[key] = value``) picks the RocksDB partition and the changelog partition from the
    *current event* and sends one changelog record per write through its ``ProducerBuffer`` (measured at several
    times the cost). Here the partition is explicit: :meth:`write` puts a batch into the partition's RocksDB in one
    ``WriteBatch`` and adds the changelog records, in the same order, to the handler's :class:`RecordBatches`,
    which sends them through the app producer that Faust flushes before committing offsets. Once the changelog has
    them, the store remembers the offset (what Faust's own callback does), so recovery reads only what came after.
    Keys and values are encoded as the table's schema does (JSON).
    """

    def __init__(self, table: Any, batches: RecordBatches) -> None:
        self.table = table
        self.topic = table.changelog_topic.get_topic_name()
        self.batches = batches
        self.persisted_at: dict[int, float] = {}
        batches.on_delivered[self.topic] = self._persisted

    def get(self, partition: int, key: str) -> Any:
        raw = rocksdb(self.table, partition).get(orjson.dumps(key))
        return None if raw is None else orjson.loads(raw)

    def write(self, partition: int, items: list[tuple[str, Any]]) -> None:
        """Put (``value`` not None) or delete each key, in order: locally now, in the changelog on ``batches.send``."""
        if not items:
            return
        batch = rocksdict.WriteBatch(raw_mode=True)
        add = self.batches.add
        for key, value in items:
            key_bytes = orjson.dumps(key)
            if value is None:
                batch.delete(key_bytes)
                add(self.topic, partition, key_bytes, None)
            else:
                value_bytes = orjson.dumps(value)
                batch.put(key_bytes, value_bytes)
                add(self.topic, partition, key_bytes, value_bytes)
        rocksdb(self.table, partition).write(batch)

    def _persisted(self, topic: str, partition: int, offset: int) -> None:
        """At most one RocksDB write per partition per second: an older persisted offset only means recovery
        re-reads a little more of the changelog (idempotent puts), never that it skips anything."""
        clock = time.monotonic()
        if clock - self.persisted_at.get(partition, -1e18) >= PERSIST_EVERY_S:
            self.persisted_at[partition] = clock
            persist_offset(self.table, topic, partition, offset)


def raw_partition_items(table: Any, partition: int, prefix: str = "") -> Iterator[tuple[bytes, bytes]]:
    """Raw (key, value) pairs of one partition of a RocksDB-backed table whose key starts with ``prefix``
    (Faust has no public API for it). Keys are JSON strings, so the prefix is matched before anything is decoded."""
    raw_prefix = orjson.dumps(prefix)[:-1]  # '"u:' without the closing quote
    for key, value in visible_items(table, partition):
        if value is not None and key.startswith(raw_prefix):
            yield key, value


def partition_items(table: Any, partition: int, prefix: str = "") -> list[tuple[str, Any]]:
    """Decoded (key, value) pairs of one partition whose key starts with ``prefix``."""
    return [(orjson.loads(k), orjson.loads(v)) for k, v in raw_partition_items(table, partition, prefix)]


def prefixed_items(table: Any, partition: int, prefix: str) -> Iterator[tuple[str, Any]]:
    """Decoded (key, value) pairs of one partition whose key starts with ``prefix``, found by a seek (not a scan
    of the partition): one user's journal, one event id's owners."""
    raw_prefix = orjson.dumps(prefix)[:-1]
    for key, value in items_from(table, partition, raw_prefix):
        if not key.startswith(raw_prefix):
            return
        if value is not None:
            yield orjson.loads(key), orjson.loads(value)
