"""A group-less reader of answer topics from their end: what the reply listener (``replies``: ``score-applied`` and
``score-events-dlq``) and the moderation results listener (``moderation_results``) share.

No consumer group: every API replica reads every partition itself, so each one sees the answers to its own
requests. ``read_committed``: never an answer a transactional producer later aborts. The reader is positioned at
the end of its topics before the app reports ready (the end offsets resolved at start), and a request registers
before producing, so no answer to a request made after start can be missed. Transient broker errors are logged
and reading goes on; a crash of the reading task is logged, and ``running`` turns false (``/readyz`` says so).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from producer_api.kafka_io import stop_quietly
from producer_api.settings import ApiSettings
from schemas.runtime.kafka import assign_all_partitions, client_options, start_with_retry

log = logging.getLogger(__name__)


class AnswerTail:
    """Subclasses set ``what`` and ``client_id`` and implement ``handle(topic, records)``."""

    what = "answer listener"
    client_id = "scoreboard-api-answers"

    def __init__(self, settings: ApiSettings, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self._settings = settings
        self._options = client_options(settings)
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def handle(self, topic: str, records: list[Any]) -> None:
        raise NotImplementedError

    def _make(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self._options, client_id=self.client_id, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest", isolation_level="read_committed")

    async def start(self) -> None:
        timeout = self._settings.kafka_connect_timeout
        self._consumer = await start_with_retry(self._make, f"producer_api {self.what}", timeout, self._options)
        self._started = True
        tps = []  # assign_all_partitions assigns one topic (waiting for its metadata); the union is assigned last
        for topic in self.topics:
            tps += await assign_all_partitions(self._consumer, topic, timeout=timeout)
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now: answers to requests made after start are all ahead
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name=self.what)
        self._task.add_done_callback(self._report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                await self._task
        if self._started:
            self._started = False
            await stop_quietly(self._consumer, f"producer_api {self.what}", 10.0)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped; /readyz now answers 503", self.what, exc_info=task.exception())

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:  # transient broker trouble: keep listening
                log.warning("reading %s failed: %r; retrying", ", ".join(self.topics), exc)
                await asyncio.sleep(0.5)
                continue
            for tp, records in batch.items():
                self.handle(tp.topic, records)
