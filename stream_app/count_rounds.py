"""Stage 1's player counts: a list whose only change is more players goes at most once a second per partition.

Each local list carries how many players its partition has on the board (stage 2 sums them into a final's
``total_players``). A new player changes that count without moving the local top-K, so at a steady flow of new
players almost every list stage 1 flushed was the same rows again with a count one higher, sent up to twenty
times a second per partition and board through ``leaderboard-candidates`` and again through the ``candidates``
table's changelog. Measured (bench 2's load at 1,500 ev/s, 200 after apply, 10,000 users on fresh topics): 1,063
of 1,071 lists flushed in 4 s were count-only, and those two topics were 57 % of the bytes the broker wrote.

So a list whose only change is a higher count goes with its partition's *count round*: at once when the
partition's last round is ``every_s`` old or more, else it waits for the next one (the partition timer starts it
when no change does), and every list of the partition that waits goes in that round. A list whose top changed
goes at once, with its count, as before, and so does a lower count (a player banned below the top: rare, and a
final must not count them). Nothing a reader sees waits: live boards take no counts from here, and stage 2 emits
a board only when its rows change.

Finals stay exact: a partition's watermark is held back while any of its lists waits (:meth:`held`; stage 1 also
holds it for a list changed since its last flush), and the seal needs every partition's watermark past a
period's end (:mod:`stream_app.seal`), so a final counts every player; it may be sealed up to a round later.
After a restart or a rebalance every list is sent afresh, count included.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Key = tuple[int, str]  # (source partition, board)
EVERY_S = 1.0


class CountRounds:
    """Which count-only lists wait, and when each partition's next count round is due."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.waiting: set[Key] = set()
        self.due: dict[int, float] = {}  # partition -> when its next round may go (absent: now)
        self.now = float("-inf")
        self._rounds: set[int] = set()  # partitions whose round goes in the flush under way

    def start(self) -> set[Key]:
        """A flush begins: the waiting lists whose partition's round is due, to be sent with it."""
        self.now = self.clock()
        ready = {key for key in self.waiting if self._due(key[0])}
        self.waiting -= ready
        return ready

    def holds(self, key: Key) -> bool:
        """Whether a list whose only change is its count waits (its partition's round is not due yet)."""
        if self._due(key[0]):
            self._rounds.add(key[0])
            return False
        self.waiting.add(key)
        return True

    def finish(self) -> None:
        """The flush is done: each partition whose round went gets its next one ``every_s`` from now."""
        for partition in self._rounds:
            self.due[partition] = self.now + self.every_s
        self._rounds.clear()

    def sent(self, key: Key) -> None:
        """The list went (its top changed, or it was sent afresh) or needs nothing: it no longer waits."""
        self.waiting.discard(key)

    def held(self) -> set[int]:
        """Partitions with a list waiting: their watermark must not move past its count."""
        return {partition for partition, _ in self.waiting}

    def ready(self) -> bool:
        """Whether a waiting list's round is due (the partition timer then starts a flush for it)."""
        now = self.clock()
        return any(now >= self.due.get(partition, float("-inf")) for partition, _ in self.waiting)

    def drop(self, partition: int) -> None:
        """The partition left this worker, or is indexed afresh (all its lists are sent again)."""
        self.waiting = {key for key in self.waiting if key[0] != partition}
        self.due.pop(partition, None)
        self._rounds.discard(partition)

    def _due(self, partition: int) -> bool:
        return self.now >= self.due.get(partition, float("-inf"))
