"""The Kafka tail: all partitions of ``leaderboard-updates``, from the start of the compacted log, then live.

One group-less consumer per process (every replica reads everything; no offsets are committed). Records go
through :meth:`BoardFeed.handle` into the :class:`BoardStore`; a changed board is handed to the broadcaster.
The feed is *caught up* (``/readyz`` 200) once every partition's position reaches the end offset observed at
start. A failure of the consumer is logged and the tail restarts after a back-off; it never ends the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.runtime.kafka import assign_all_partitions, start_with_retry
from sse_server.boards import ApplyResult, BoardStore
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings

log = logging.getLogger(__name__)


class BoardFeed:
    def __init__(self, settings: SseSettings, store: BoardStore, on_change: Callable[[str], None],
                 metrics: SseMetrics) -> None:
        self.settings = settings
        self.topic = settings.topics.leaderboard_updates
        self.store = store
        self.on_change = on_change
        self.metrics = metrics
        self.caught_up = asyncio.Event()

    def mark_caught_up(self) -> None:
        if not self.caught_up.is_set():
            self.caught_up.set()
            self.metrics.ready.set(1)
            log.info("sse: caught up with %s (%d boards)", self.topic, len(self.store.boards))

    def handle(self, key: bytes | None, value: bytes | None, where: str = "") -> ApplyResult:
        """Apply one record; an unusable one is logged with its reason and skipped."""
        result = self.store.apply(key, value)
        self.metrics.records.labels(result.outcome).inc()
        if result.outcome == "invalid":
            log.warning("skipping leaderboard record %s key=%r: %s", where, key, result.reason)
        elif result.outcome == "stale":
            log.debug("ignoring leaderboard record %s key=%r: %s", where, key, result.reason)
        else:
            self.metrics.boards.set(len(self.store.boards))
            self.metrics.mark_update()
            if result.board is not None:
                self.on_change(result.board)
        return result

    async def run(self) -> None:
        """Tail forever (until cancelled), restarting the consumer after a failure."""
        delay = 0.5
        while True:
            try:
                await self._tail()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leaderboard feed failed; restarting in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _tail(self) -> None:
        consumer = await start_with_retry(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest", client_id="scoreboard-sse",
            ),
            "sse board feed", self.settings.kafka_connect_timeout,
        )
        try:
            tps = await assign_all_partitions(consumer, self.topic, self.settings.kafka_connect_timeout)
            await consumer.seek_to_beginning(*tps)
            targets: dict[Any, int] = await consumer.end_offsets(tps)
            log.info("sse: reading %s (%d partitions) up to %s", self.topic, len(tps),
                     {tp.partition: off for tp, off in targets.items()})
            await self._check_caught_up(consumer, targets)
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, records in batch.items():
                    for record in records:
                        self.handle(record.key, record.value, f"{tp.partition}@{record.offset}")
                await self._check_caught_up(consumer, targets)
                await self._measure_lag(consumer, tps)
        finally:
            await consumer.stop()

    async def _check_caught_up(self, consumer: Any, targets: dict[Any, int]) -> None:
        if self.caught_up.is_set():
            return
        for tp, end in targets.items():
            if await consumer.position(tp) < end:
                return
        self.mark_caught_up()

    async def _measure_lag(self, consumer: Any, tps: list[Any]) -> None:
        lag = 0
        for tp in tps:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - await consumer.position(tp))
        self.metrics.consumer_lag.set(lag)
