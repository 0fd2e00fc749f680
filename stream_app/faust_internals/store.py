"""Direct access to a Faust table's RocksDB store and to the app's aiokafka producer (both private in Faust).

The batch handlers write a whole batch per partition as one RocksDB ``WriteBatch`` and its changelog records as
aiokafka record batches (``stream_app.tables``, ``stream_app.record_batches``); Faust's public path is one write, one
changelog record and one ``send`` per key (measured at several times the cost). These are the only functions that
reach into the store and the producer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from faust.types import TP


def rocksdb(table: Any, partition: int) -> Any:
    """The rocksdict ``Rdict`` of one partition of a RocksDB-backed table (``Store._db_for_partition``)."""
    return table.data._db_for_partition(partition)


def visible_items(table: Any, partition: int) -> Iterator[tuple[bytes, bytes | None]]:
    """Raw (key, value) pairs of a partition that is open on this worker (``Store._dbs``, ``_visible_items``);
    nothing when it is not."""
    store = table.data
    db = store._dbs.get(partition)
    if db is None:
        return iter(())
    items: Iterator[tuple[bytes, bytes | None]] = store._visible_items(db)
    return items


def items_from(table: Any, partition: int, start: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Raw (key, value) pairs of an open partition in key order from ``start`` on (a RocksDB seek: rocksdict's
    public ``items(from_key=)`` on the partition's ``Rdict``); nothing when the partition is not open here."""
    db = table.data._dbs.get(partition)
    if db is None:
        return iter(())
    items: Iterator[tuple[bytes, bytes]] = db.items(from_key=start)
    return items


def persist_offset(table: Any, topic: str, partition: int, offset: int) -> None:
    """Remember how far the changelog holds the store (``Store.set_persisted_offset``, what Faust's own changelog
    callback calls), so recovery starts after it."""
    table.data.set_persisted_offset(TP(topic, partition), offset)


def aiokafka_producer(app: Any) -> Any:
    """The app's aiokafka ``AIOKafkaProducer`` (``Producer._ensure_producer``), for ``create_batch``/``send_batch``."""
    return app.producer._ensure_producer()
