"""``TopicTail``: every partition of one topic, from the start of the log, then live — the read side's Kafka input.

One group-less consumer per topic and process (every replica reads everything; no offsets are committed). Each
fetch is handed to ``apply`` as one batch of ``(key, value, where)``. The tail is *caught up* once every
partition's position reaches the end offset observed at start (``on_caught_up`` runs once then). A failure of
the consumer is logged and the tail restarts after a back-off, from the beginning; it never ends the process (a
broker refusing the login is logged in one line, no traceback: ``__main__`` refuses to start on that already, so
here it means the credentials changed while running).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import Gauge

from schemas.runtime.kafka import BrokerRefused, assign_all_partitions, client_options, start_with_retry
from sse_server.settings import SseSettings

log = logging.getLogger(__name__)

Record = tuple[bytes | None, bytes | None, str]  # key, value, "<partition>@<offset>"


class TopicTail:
    def __init__(self, settings: SseSettings, topic: str, apply: Callable[[list[Record]], None], lag: Gauge,
                 on_caught_up: Callable[[], None], max_records: int = 2000) -> None:
        self.settings = settings
        self.options = client_options(settings)
        self.topic = topic
        self.apply = apply
        self.lag = lag
        self.on_caught_up = on_caught_up
        self.max_records = max_records
        self.caught_up = asyncio.Event()

    def mark_caught_up(self) -> None:
        if not self.caught_up.is_set():
            self.caught_up.set()
            self.on_caught_up()

    async def run(self) -> None:
        """Tail forever (until cancelled), restarting the consumer after a failure."""
        delay = 0.5
        while True:
            try:
                await self._tail()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, BrokerRefused):  # a configuration error: its one line says it all
                    log.error("%s tail: %s; retrying in %.1fs", self.topic, exc, delay)
                else:
                    log.exception("%s tail failed; restarting in %.1fs", self.topic, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _tail(self) -> None:
        consumer = await start_with_retry(
            lambda: AIOKafkaConsumer(
                **self.options, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest", client_id="scoreboard-sse",
            ),
            f"sse tail of {self.topic}", self.settings.kafka_connect_timeout, self.options,
        )
        try:
            tps = await assign_all_partitions(consumer, self.topic, self.settings.kafka_connect_timeout)
            await consumer.seek_to_beginning(*tps)
            targets: dict[Any, int] = await consumer.end_offsets(tps)
            log.info("sse: reading %s (%d partitions) up to %s", self.topic, len(tps),
                     {tp.partition: off for tp, off in targets.items()})
            await self._check_caught_up(consumer, targets)
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                records = [(r.key, r.value, f"{tp.partition}@{r.offset}") for tp, rs in batch.items() for r in rs]
                if records:
                    self.apply(records)
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
        self.lag.set(lag)


class TailFeed:
    """A read model fed by one :class:`TopicTail`: the tail's ``run``, ``caught_up`` and ``mark_caught_up`` are
    the feed's own (the app starts and waits on feeds, not on their tails)."""

    tail: TopicTail

    def follow(self, tail: TopicTail) -> None:
        self.tail = tail
        self.caught_up = tail.caught_up
        self.run = tail.run
        self.mark_caught_up = tail.mark_caught_up
