"""The floor under bench 3: what one Kafka hop costs on this machine, with nothing of ours in it.

One aiokafka producer (``acks=all``, idempotent, no linger: the worker's settings) writes one record at a time,
``rate`` per second, to a fresh one-partition topic; one aiokafka consumer in the same process (no group, the
SSE tail's shape) receives it. The figure is produce -> receive per record (p50/p99 over ``count``): a POST
reaches a browser through at least two such hops (``score-events`` to the worker, ``leaderboard-updates`` to the
read API), so twice this p50 bounds bench 3's idle p50 from below, before HTTP, the worker and the fan-out.

On a quiet VM the hop is dominated by thread wake-ups, not by work: the broker hands a request between its
network and handler threads and the client's event loop wakes for the answer; measured here (2 vCPU) a bare
``ApiVersions`` round trip takes ~0.7 ms back to back and ~2.5 ms with 20 ms pauses between requests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.latency import summary
from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicSpec


async def measure_hop(bootstrap: str, rate: float, count: int, timeout: float = 30.0) -> dict[str, Any]:
    """Produce -> receive of ``count`` records sent one at a time at ``rate``/s; figures in ms."""
    topic = f"bench-hop-{uuid.uuid4().hex[:8]}"
    await ensure_topics(plaintext(bootstrap), [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await producer.send_and_wait(topic, b"warm-up")
        await asyncio.wait_for(consumer.getone(), timeout)
        delays: list[float] = []
        for _ in range(count):
            started = time.monotonic()
            await producer.send(topic, b"x")
            await asyncio.wait_for(consumer.getone(), timeout)
            delays.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    finally:
        await consumer.stop()
        await producer.stop()
    return {**summary(delays, count), "rate": rate}
