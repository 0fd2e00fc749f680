"""The write API's reader of ``moderation-results``: the stream worker's answers to the admin commands this
process recorded on ``moderation``, collected per command and partition for the request waiting for them.

It is built like the reply listener (``replies``) and for the same reasons: no consumer group (every replica reads
every partition and sees the answers to its own commands), ``read_committed``, positioned at the end of the topic
before the app reports ready, and a request registers its command id before producing, so no answer can be missed.

A revert is sent to every partition (``schemas.moderation``): its answers come from every partition, one each,
and the request decides from the set (``moderation_answers``) as soon as one is decisive or all are in. So a
waiter here is not a future resolved once but the answers so far plus an event set on each new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from producer_api.kafka_io import stop_quietly
from producer_api.metrics import ApiMetrics
from producer_api.settings import ApiSettings
from schemas.moderation import ModerationResult
from schemas.runtime.kafka import assign_all_partitions, client_options, start_with_retry

log = logging.getLogger(__name__)

T = TypeVar("T")


class Pending:
    """The answers to one command so far, by partition (a partition answering twice — a worker replaying after a
    crash — replaces its answer: the same command gives the same answer)."""

    def __init__(self) -> None:
        self.results: dict[int, ModerationResult] = {}
        self.changed = asyncio.Event()

    def add(self, result: ModerationResult) -> None:
        self.results[result.partition] = result
        self.changed.set()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("moderation results listener stopped; /readyz now answers 503", exc_info=task.exception())


class ModerationResults:
    def __init__(self, settings: ApiSettings, metrics: ApiMetrics) -> None:
        self.topic = settings.topics.moderation_results
        self._settings = settings
        self._options = client_options(settings)
        self._metrics = metrics
        self._consumer: Any = None
        self._pending: dict[str, Pending] = {}
        self._task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _make(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **self._options, client_id="scoreboard-api-moderation",
            group_id=None, enable_auto_commit=False, auto_offset_reset="latest", isolation_level="read_committed",
        )

    async def start(self) -> None:
        timeout = self._settings.kafka_connect_timeout
        self._consumer = await start_with_retry(self._make, "producer_api moderation listener", timeout,
                                                self._options)
        self._started = True
        tps = await assign_all_partitions(self._consumer, self.topic, timeout=timeout)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now: answers to commands recorded after start are all ahead
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="moderation results listener")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                await self._task
        if self._started:
            self._started = False
            await stop_quietly(self._consumer, "producer_api moderation listener", 10.0)

    def register(self, command_id: str) -> Pending:
        """Call before producing the command; always pair with ``discard``."""
        pending = self._pending[command_id] = Pending()
        return pending

    def discard(self, command_id: str) -> None:
        self._pending.pop(command_id, None)

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
                    self.resolve(record.value)

    def resolve(self, value: bytes | None) -> None:
        if not self._pending:
            return  # nobody waits (most records answer other replicas' commands): not even parsed
        try:
            result = ModerationResult.model_validate_json(value or b"")
        except ValidationError:
            self._metrics.bad_moderation_results.inc()
            log.warning("unreadable record on %s ignored", self.topic)
            return
        pending = self._pending.get(result.command_id)
        if pending is not None:
            pending.add(result)


async def settle(pending: Pending, decide: Callable[[list[ModerationResult]], T | None], timeout: float) -> T | None:
    """``decide(answers so far)`` as soon as it decides (not None), re-asked on each new answer; None once
    ``timeout`` seconds have passed without a decision."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pending.changed.clear()
        decided = decide(list(pending.results.values()))
        if decided is not None:
            return decided
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        with suppress(TimeoutError):
            await asyncio.wait_for(pending.changed.wait(), remaining)
