"""Records a batch handler produces, built into one Kafka record batch per topic partition.

``app.producer.send`` costs tens of µs per record (a coroutine, a future, the accumulator); a handler that
answers thousands of events per fetch instead appends to aiokafka's ``BatchBuilder`` (C-accelerated) and hands
each full builder to ``send_batch``. The records still go through the app's producer, which Faust flushes
before it commits source offsets — the order the at-least-once argument needs — and records of one
partition keep the order they were added in. Every delivery is watched by the worker's
:class:`~stream_app.sends.SendGuard`: a batch the broker did not take stops the next commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.partitioner import murmur2

from stream_app.faust_internals.store import aiokafka_producer
from stream_app.sends import SendGuard

log = logging.getLogger(__name__)

Delivered = Callable[[str, int, int], None]  # (topic, partition, offset of the last record) once acknowledged


class RecordBatches:
    """Collects records per (topic, partition); :meth:`send` ships what was added since the last send."""

    def __init__(self, app: Any, guard: SendGuard) -> None:
        self.app = app
        self.guard = guard
        self.builders: dict[tuple[str, int], tuple[Any, int]] = {}
        self.pending: list[tuple[Any, str, int, int]] = []  # full builders waiting for send()
        self.on_delivered: dict[str, Delivered] = {}

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
            headers: Sequence[tuple[str, bytes]] = ()) -> None:
        slot = (topic, partition)
        builder, count = self.builders.get(slot) or (self._new_builder(), 0)
        if builder.append(timestamp=None, key=key, value=value, headers=list(headers)) is None:
            if count == 0:
                raise ValueError(f"a record for {topic} is larger than a whole producer batch")
            self.pending.append((builder, topic, partition, count))
            builder, count = self._new_builder(), 0
            builder.append(timestamp=None, key=key, value=value, headers=list(headers))
        self.builders[slot] = (builder, count + 1)

    async def partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` (from the producer's metadata, fetched when not known yet)."""
        return len(await self._producer().partitions_for(topic))

    @staticmethod
    def partition_for(key: bytes, count: int) -> int:
        """The partition Kafka's default partitioner picks for ``key`` among ``count`` (murmur2, as the Java client)."""
        return int(murmur2(key) & 0x7FFFFFFF) % count

    async def send(self) -> None:
        """Hand every batch to the producer (delivery is awaited by Faust's flush before the next commit)."""
        pending = self.pending + [(b, t, p, n) for (t, p), (b, n) in self.builders.items()]
        self.pending, self.builders = [], {}
        producer = self._producer()
        for builder, topic, partition, count in pending:
            future = await producer.send_batch(builder, topic, partition=partition)
            self.guard.track(future, f"{count} records to {topic}[{partition}]")
            future.add_done_callback(self._delivered(topic, partition, count))

    def _delivered(self, topic: str, partition: int, count: int) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            if future.cancelled() or future.exception() is not None:
                return  # the guard logs it and stops the next commit
            callback = self.on_delivered.get(topic)
            if callback is not None:
                callback(topic, partition, future.result().offset + count - 1)
        return done

    def _new_builder(self) -> Any:
        return self._producer().create_batch()

    def _producer(self) -> Any:
        return aiokafka_producer(self.app)
