"""The write API's reader of ``moderation-results``: the stream worker's answers to the admin commands this
process recorded on ``moderation``, collected per command and partition for the request waiting for them.

It reads like the reply listener (``replies``), through the same ``answer_tail.AnswerTail`` (no consumer group,
``read_committed``, positioned at the end before the app reports ready), and a request registers its command id
before producing, so no answer can be missed.

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

from pydantic import ValidationError

from producer_api.answer_tail import AnswerTail
from producer_api.metrics import ApiMetrics
from producer_api.settings import ApiSettings
from schemas.moderation import ModerationResult

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


class ModerationResults(AnswerTail):
    what = "moderation results listener"
    client_id = "scoreboard-api-moderation"

    def __init__(self, settings: ApiSettings, metrics: ApiMetrics) -> None:
        super().__init__(settings, (settings.topics.moderation_results,))
        self.topic = settings.topics.moderation_results
        self._metrics = metrics
        self._pending: dict[str, Pending] = {}

    def handle(self, topic: str, records: list[Any]) -> None:
        for record in records:
            self.resolve(record.value)

    def register(self, command_id: str) -> Pending:
        """Call before producing the command; always pair with ``discard``."""
        pending = self._pending[command_id] = Pending()
        return pending

    def discard(self, command_id: str) -> None:
        self._pending.pop(command_id, None)

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
