"""The reply side: this process's own reader of ``score-applied``, resolving the requests waiting for them.

No consumer group: every API replica reads all partitions itself, so each one sees the replies to its own
requests. The reader is positioned at the end before the app reports ready, and a request registers its
waiter before producing, so no reply can be missed. Several waiters may share an event id (concurrent
repeats of one Idempotency-Key); each is removed when its request ends, answered or not.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from producer_api.kafka_io import stop_quietly
from producer_api.metrics import ApiMetrics
from producer_api.settings import ApiSettings
from schemas.events import ScoreApplied
from schemas.kafka import assign_all_partitions, start_with_retry

log = logging.getLogger(__name__)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("score-applied listener stopped; /readyz now answers 503", exc_info=task.exception())


class ReplyListener:
    def __init__(self, settings: ApiSettings, metrics: ApiMetrics) -> None:
        self.topic = settings.topics.applied
        self._settings = settings
        self._metrics = metrics
        self._consumer: Any = None
        self._waiters: dict[str, set[asyncio.Future[ScoreApplied]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> int:
        return sum(len(w) for w in self._waiters.values())

    def _make(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers, client_id="scoreboard-api-replies",
            group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
            isolation_level="read_committed",  # never answer with a total a transactional worker later aborts
        )

    async def start(self) -> None:
        timeout = self._settings.kafka_connect_timeout
        self._consumer = await start_with_retry(self._make, "producer_api reply listener", timeout)
        self._started = True
        tps = await assign_all_partitions(self._consumer, self.topic, timeout=timeout)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now: replies to requests made after start are all ahead
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="score-applied listener")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                await self._task
        if self._started:
            self._started = False
            await stop_quietly(self._consumer, "producer_api reply listener", 10.0)

    def register(self, event_id: str) -> asyncio.Future[ScoreApplied]:
        """Call before producing the event; always pair with ``discard``."""
        future: asyncio.Future[ScoreApplied] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event_id, set()).add(future)
        self._metrics.pending_replies.inc()
        return future

    def discard(self, event_id: str, future: asyncio.Future[ScoreApplied]) -> None:
        waiters = self._waiters.get(event_id)
        if waiters is None or future not in waiters:
            return
        waiters.discard(future)
        if not waiters:
            del self._waiters[event_id]
        self._metrics.pending_replies.dec()
        future.cancel()

    async def wait(self, future: asyncio.Future[ScoreApplied], timeout: float) -> ScoreApplied | None:
        """The matching ``score-applied``, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:  # transient broker trouble: keep listening
                log.warning("reading %s failed: %r; retrying", self.topic, exc)
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                for record in records:
                    self._resolve(record.value)

    def _resolve(self, value: bytes | None) -> None:
        try:
            applied = ScoreApplied.model_validate_json(value or b"")
        except ValidationError:
            self._metrics.bad_replies.inc()
            log.warning("unreadable record on %s ignored", self.topic)
            return
        for future in self._waiters.get(applied.event_id, ()):
            if not future.done():
                future.set_result(applied)
