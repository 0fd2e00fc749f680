"""The Python ceiling of bench 1: a bare aiokafka consumer reading a topic, in its own process like the worker.

``python -m bench.bare_consumer BOOTSTRAP TOPIC N`` reads every partition from the beginning (no group) until
``N`` records, and prints JSON: records, seconds (from the first fetch, connection set up, to the last record),
events/s. It decodes nothing: this is what reading costs, the floor under any consumer written in Python.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer

from schemas.runtime.kafka import assign_all_partitions


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 300.0) -> dict[str, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await assign_all_partitions(consumer, topic)
        await consumer.seek_to_beginning(*tps)
        count = 0
        start = time.monotonic()
        while count < expected:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"read {count}/{expected} records of {topic} in {timeout}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batch.values():
                count += len(records)
        seconds = time.monotonic() - start
        return {"records": count, "seconds": seconds, "events_per_s": count / seconds}
    finally:
        await consumer.stop()


def main() -> int:
    bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(orjson.dumps(asyncio.run(read_all(bootstrap, topic, expected))).decode(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
