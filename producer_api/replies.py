"""The reply side: this process's own reader of ``score-applied`` and ``score-events-dlq``, resolving the requests
waiting for them.

The reading itself — no consumer group, positioned at the end of both topics before the app reports ready — is
``answer_tail.AnswerTail``; a request registers its waiter before producing, so no answer can be missed.

An event is answered either by its ``score-applied`` record (applied: the new total) or by its dead letter on
``score-events-dlq`` (refused by the worker: the reason from ``x-dlq-reason``). A dead letter names its event by
the ``x-event-id`` header, else by the ``event_id`` of its value (the original record).

Several waiters may share an event id (concurrent repeats of one Idempotency-Key); all of them get the answer.
Each waiter also knows the ``action_id`` and the ``value`` it sent, and an answer naming another action or another
value is not its answer: one Idempotency-Key sent concurrently for two actions (or one value action with two
values) is one event id, applied for one and refused ("idempotency key reused") for the other, and each request
must get its own outcome. A dead letter names both (it is the original record); a ``score-applied`` record names
the action, and the value when the worker puts it there (an optional ``value``, read here if present): an answer
silent about the value matches every value. Each waiter is removed when its request ends, answered or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from producer_api.answer_tail import AnswerTail
from producer_api.metrics import ApiMetrics
from producer_api.settings import ApiSettings
from schemas.events import ScoreApplied

log = logging.getLogger(__name__)

MAX_REASON = 1000  # characters of x-dlq-reason passed on to the client
NO_REASON = "refused by the stream worker"


@dataclass(frozen=True, slots=True)
class Refused:
    """The worker sent the event to the dead-letter topic instead of applying it."""

    event_id: str
    reason: str
    action_id: str | None = None  # of the dead record, when its value says
    value: int | None = None  # of the dead record (None: it has none, or its value does not say)


class Applied(ScoreApplied):
    """A ``score-applied`` record as read here: plus the event's ``value``, when the worker names it."""

    value: int | None = None


Reply = Applied | Refused
Sent = tuple[str | None, int | None]  # what a waiting request sent: (action_id, value)


def answers(sent: Sent, action_id: str | None, value: int | None) -> bool:
    """Whether an answer naming ``action_id`` and ``value`` (None: not said) is the answer to a request that sent
    ``sent``: the same action and value, as far as either side says."""
    sent_action, sent_value = sent
    if sent_action is None or action_id is None:
        return True
    return sent_action == action_id and (value is None or value == sent_value)


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
    dead_value: int | None = None
    if value:
        with suppress(orjson.JSONDecodeError):
            raw = orjson.loads(value)
            if isinstance(raw, dict):
                action = raw.get("action_id")
                action_id = action if isinstance(action, str) else None
                number = raw.get("value")
                dead_value = number if isinstance(number, int) and not isinstance(number, bool) else None
                if event_id is None and isinstance(raw.get("event_id"), str):
                    event_id = raw["event_id"]
    if not event_id:
        return None
    reason = _text(found.get("x-dlq-reason", b"")).strip()[:MAX_REASON] or NO_REASON
    return Refused(event_id, reason, action_id, dead_value)


class ReplyListener(AnswerTail):
    what = "reply listener"
    client_id = "scoreboard-api-replies"

    def __init__(self, settings: ApiSettings, metrics: ApiMetrics) -> None:
        super().__init__(settings, (settings.topics.applied, settings.topics.dlq))
        self.topic, self.dlq_topic = self.topics
        self._metrics = metrics
        # event id -> {waiter: the action_id and value its request sent}
        self._waiters: dict[str, dict[asyncio.Future[Reply], Sent]] = {}

    @property
    def pending(self) -> int:
        return sum(len(w) for w in self._waiters.values())

    def handle(self, topic: str, records: list[Any]) -> None:
        if topic == self.dlq_topic:
            for record in records:
                self.resolve_dead_letter(record.headers, record.value)
        else:
            for record in records:
                self.resolve_applied(record.value)

    def register(self, event_id: str, action_id: str | None = None, value: int | None = None
                 ) -> asyncio.Future[Reply]:
        """Call before producing the event; always pair with ``discard``."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event_id, {})[future] = (action_id, value)
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

    def resolve_applied(self, value: bytes | None) -> None:
        try:
            applied = Applied.model_validate_json(value or b"")
        except ValidationError:
            self._metrics.bad_replies.inc()
            log.warning("unreadable record on %s ignored", self.topic)
            return
        self._answer(applied.event_id, applied.action_id, applied.value, applied)

    def resolve_dead_letter(self, headers: Sequence[tuple[str, bytes]] | None, value: bytes | None) -> None:
        if not self._waiters:
            return
        refused = refusal_of(headers, value)
        if refused is not None:
            self._answer(refused.event_id, refused.action_id, refused.value, refused)

    def _answer(self, event_id: str, action_id: str | None, value: int | None, reply: Reply) -> None:
        """Resolve the waiters of ``event_id`` whose request sent ``action_id`` and ``value`` (see ``answers``)."""
        for future, sent in self._waiters.get(event_id, {}).items():
            if not future.done() and answers(sent, action_id, value):
                future.set_result(reply)
