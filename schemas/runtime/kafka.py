"""Broker connection helpers shared by the services: start a client, retrying while Kafka is late."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aiokafka.errors import KafkaConnectionError, KafkaError

log = logging.getLogger(__name__)


T = TypeVar("T")


async def start_with_retry(make: Callable[[], T], what: str, timeout: float) -> T:
    """A started client from ``make()``, retrying with a *new* client until ``timeout`` seconds pass.

    Each service starts before or beside the broker (``make run``, compose, Kubernetes); a few seconds of
    lateness must not crash it. A stopped aiokafka client cannot be started again, so every attempt builds a
    fresh one; the last error is raised when time is up.
    """
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        client: Any = make()
        try:
            await client.start()
            return cast(T, client)
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            stop = getattr(client, "stop", None) or getattr(client, "close", None)
            if stop is not None:
                with contextlib.suppress(Exception):  # a half-started client may fail to stop
                    await stop()
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: broker not reachable yet (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def assign_all_partitions(consumer: Any, topic: str, timeout: float = 30.0) -> list[Any]:
    """Assign every partition of ``topic`` to a group-less consumer, waiting for its metadata to arrive.

    Used by readers that must see every partition (the SSE tail, the API's reply listener) without a group.
    """
    from aiokafka.structs import TopicPartition

    deadline = time.monotonic() + timeout
    while True:
        # aiokafka's public partitions_for_topic only knows subscribed topics; ask the cluster directly
        cluster = await consumer._client.fetch_all_metadata()
        parts = cluster.partitions_for_topic(topic)
        if parts:
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            return tps
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions after {timeout}s (was it created?)")
        await asyncio.sleep(0.2)


async def read_latest(bootstrap: str, topic: str, timeout: float) -> dict[bytes, bytes]:
    """The latest value of every key still holding one (not a tombstone) in a compacted ``topic``, read from the
    start to the end offsets seen when it began (a group-less consumer, nothing committed)."""
    from aiokafka import AIOKafkaConsumer

    consumer = await start_with_retry(
        lambda: AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", isolation_level="read_committed"),
        f"reading {topic}", timeout)
    try:
        tps = await assign_all_partitions(consumer, topic, timeout)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        latest: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout}s")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key is not None:
                        latest[record.key] = record.value
        return {key: value for key, value in latest.items() if value is not None}
    finally:
        await consumer.stop()
