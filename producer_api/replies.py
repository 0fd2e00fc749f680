"""The reply side: this process's own reader of ``score-applied`` and ``score-events-dlq``, resolving the requests
waiting for them.

No consumer group: every API replica reads all partitions of both topics itself, so each one sees the answers
to its own requests. The reader is positioned at the end of both before the app reports ready, and a request
registers its waiter before producing, so no answer can be missed.

An event is answered either by its ``score-applied`` record (applied: the new total) or by its dead letter on
``score-events-dlq`` (refused by the worker: the reason from ``x-dlq-reason``). A dead letter names its event by
the ``x-event-id`` header, else by the ``event_id`` of its value (the original record).

Several waiters may share an event id (concurrent repeats of one Idempotency-Key); all of them get the answer.
Each waiter also knows the ``action_id`` it sent, and an answer naming another action is not its answer: one
Idempotency-Key sent concurrently for two actions is one event id, applied for one action and refused
("idempotency key reused") for the other, and each request must get its own outcome. Each waiter is removed
when its request ends, answered or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from producer_api.kafka_io import stop_quietly
from producer_api.metrics import ApiMetrics
from producer_api.settings import ApiSettings
from schemas.events import ScoreApplied
from schemas.runtime.kafka import assign_all_partitions, client_options, start_with_retry

log = logging.getLogger(__name__)

MAX_REASON = 1000  # characters of x-dlq-reason passed on to the client
NO_REASON = "refused by the stream worker"


@dataclass(frozen=True, slots=True)
class Refused:
    """The worker sent the event to the dead-letter topic instead of applying it."""

    event_id: str
    reason: str
    action_id: str | None = None  # of the dead record, when its value says


Reply = ScoreApplied | Refused


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def refusal_of(headers: Sequence[tuple[str, bytes]] | None, value: bytes | None) -> Refused | None:
    """The refusal a dead letter carries, or None if it names no event id (then no request can be waiting).

    The event id is the ``x-event-id`` header, else the ``event_id`` of the value when that is a JSON object;
    the reason is ``x-dlq-reason``. Anything else in a dead letter may be malformed: that is why it is one.
    """
    found = dict(headers or ())
    event_id = _text(found["x-event-id"]) if "x-event-id" in found else None
    action_id: str | None = None
    if value:
        with suppress(orjson.JSONDecodeError):
            raw = orjson.loads(value)
            if isinstance(raw, dict):
                action = raw.get("action_id")
                action_id = action if isinstance(action, str) else None
                if event_id is None and isinstance(raw.get("event_id"), str):
                    event_id = raw["event_id"]
    if not event_id:
        return None
    reason = _text(found.get("x-dlq-reason", b"")).strip()[:MAX_REASON] or NO_REASON
    return Refused(event_id, reason, action_id)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reply listener stopped; /readyz now answers 503", exc_info=task.exception())


class ReplyListener:
    def __init__(self, settings: ApiSettings, metrics: ApiMetrics) -> None:
        self.topic = settings.topics.applied
        self.dlq_topic = settings.topics.dlq
        self._settings = settings
        self._options = client_options(settings)
        self._metrics = metrics
        self._consumer: Any = None
        # event id -> {waiter: the action_id its request sent}
        self._waiters: dict[str, dict[asyncio.Future[Reply], str | None]] = {}
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
            **self._options, client_id="scoreboard-api-replies",
            group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
            isolation_level="read_committed",  # never answer with a total a transactional worker later aborts
        )

    async def start(self) -> None:
        timeout = self._settings.kafka_connect_timeout
        self._consumer = await start_with_retry(self._make, "producer_api reply listener", timeout, self._options)
        self._started = True
        # assign_all_partitions assigns one topic (waiting for its metadata); the union is assigned last
        tps = [*await assign_all_partitions(self._consumer, self.topic, timeout=timeout),
               *await assign_all_partitions(self._consumer, self.dlq_topic, timeout=timeout)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now: answers to requests made after start are all ahead
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="reply listener")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                await self._task
        if self._started:
            self._started = False
            await stop_quietly(self._consumer, "producer_api reply listener", 10.0)

    def register(self, event_id: str, action_id: str | None = None) -> asyncio.Future[Reply]:
        """Call before producing the event; always pair with ``discard``."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event_id, {})[future] = action_id
        self._metrics.pending_replies.inc()
        return future

    def discard(self, event_id: str, future: asyncio.Future[Reply]) -> None:
        waiters = self._waiters.get(event_id)
        if waiters is None or future not in waiters:
            return
        del waiters[future]
        if not waiters:
            del self._waiters[event_id]
        self._metrics.pending_replies.dec()
        future.cancel()

    async def wait(self, future: asyncio.Future[Reply], timeout: float) -> Reply | None:
        """The event's answer (applied or refused), or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:  # transient broker trouble: keep listening
                log.warning("reading %s and %s failed: %r; retrying", self.topic, self.dlq_topic, exc)
                await asyncio.sleep(0.5)
                continue
            for tp, records in batch.items():
                if tp.topic == self.dlq_topic:
                    for record in records:
                        self.resolve_dead_letter(record.headers, record.value)
                else:
                    for record in records:
                        self.resolve_applied(record.value)

    def resolve_applied(self, value: bytes | None) -> None:
        try:
            applied = ScoreApplied.model_validate_json(value or b"")
        except ValidationError:
            self._metrics.bad_replies.inc()
            log.warning("unreadable record on %s ignored", self.topic)
            return
        self._answer(applied.event_id, applied.action_id, applied)

    def resolve_dead_letter(self, headers: Sequence[tuple[str, bytes]] | None, value: bytes | None) -> None:
        if not self._waiters:
            return
        refused = refusal_of(headers, value)
        if refused is not None:
            self._answer(refused.event_id, refused.action_id, refused)

    def _answer(self, event_id: str, action_id: str | None, reply: Reply) -> None:
        """Resolve the waiters of ``event_id`` whose request sent ``action_id`` (all of them if either is unknown)."""
        for future, sent in self._waiters.get(event_id, {}).items():
            if not future.done() and (sent is None or action_id is None or sent == action_id):
                future.set_result(reply)
