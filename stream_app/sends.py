"""Every record the worker produces is delivered before the offsets of its source are committed — or never committed.

Exactly-once here is at-least-once delivery plus idempotent application: a source offset may be committed only
once everything the records before it caused (state changelog, ``score-applied`` answers, dead letters, board
lists) is on the broker. Faust flushes the producer before it commits, but a *failed* send only ends as an
exception on a future nobody awaits: a commit after it would skip a write that never happened (a total in
RocksDB that the changelog lacks, an answer never sent).

So every delivery future is handed to one :class:`SendGuard`. Before each commit the consumer awaits what is
still in flight (:meth:`SendGuard.settle`); if any send failed, it does not commit and crashes the worker
instead. The restarted worker re-reads from the last commit, and every record it sees again is either a replay
(written again, see ``scoring``) or applied now: nothing is lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class UndeliveredRecords(RuntimeError):
    """A record the worker produced was not acknowledged by the broker; no offset may be committed past it."""


class SendGuard:
    """Delivery futures of everything produced since the last commit, and the first failure among them."""

    def __init__(self) -> None:
        self.in_flight: set[asyncio.Future[Any]] = set()
        self.failure: UndeliveredRecords | None = None

    def track(self, future: Any, what: str) -> None:
        """Watch one delivery (``what`` names it in the error: topic, partition, record count)."""
        self.in_flight.add(future)
        future.add_done_callback(lambda f: self._done(f, what))

    def _done(self, future: asyncio.Future[Any], what: str) -> None:
        self.in_flight.discard(future)
        if future.cancelled():
            problem = "cancelled"
        elif future.exception() is not None:
            problem = repr(future.exception())
        else:
            return
        log.error("producing %s failed: %s; no offset is committed past it", what, problem)
        if self.failure is None:
            self.failure = UndeliveredRecords(f"producing {what} failed: {problem}")

    async def settle(self) -> UndeliveredRecords | None:
        """Wait for every delivery in flight; the first failure since start, or None when all were delivered."""
        while self.in_flight:
            await asyncio.wait(list(self.in_flight))
        return self.failure
