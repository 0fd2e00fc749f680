"""Personal streams: ``GET /leaderboard/stream?user_id=X`` adds ``standing`` events to the board stream.

No task and no queue per client. A personal stream is an ordinary :class:`~sse_server.delivery.Subscriber` that
also names a user; it remembers the (rank, score) it was last told. After the rank index changes
(:meth:`PersonalStandings.changed`), one process-wide tick (:func:`follow_standings`, every
``SCOREBOARD_SSE_STANDING_INTERVAL_MS``) looks up each personal stream's user once — an O(log n) position in
the index, a few µs — and, for those whose rank or score moved, encodes the ``GET /leaderboard/users/X`` body
as a ``standing`` event and offers it to the client, which writes it with the next frame it lacks. Coalesced
like the boards: a client is sent its latest standing, never the ones in between. Standing events carry no
``id:``, so ``Last-Event-ID`` keeps naming board versions. A user with no score on the board gets a body with
``rank``, ``score`` and ``top_percent`` null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from sse_server.delivery import Subscriber
from sse_server.standings_reads import Scope, StandingsReads, resolve

NOT_RANKED = (None, None)


def encode_standing(body: dict[str, Any]) -> bytes:
    return b"event: standing\ndata: %s\n\n" % orjson.dumps(body)


class PersonalStandings:
    def __init__(self, reads: StandingsReads, clock: Callable[[], datetime]) -> None:
        self.reads = reads
        self.clock = clock
        self.subscribers: set[Subscriber] = set()
        self.dirty = False
        self._scopes_at: datetime | None = None
        self._scopes: dict[tuple[str, str], Scope] = {}

    def changed(self) -> None:
        """The index changed (a batch of ``user-standings``): the next tick looks at every personal stream."""
        self.dirty = True

    def first(self, sub: Subscriber) -> bytes:
        """The ``standing`` event sent at connect; ``sub`` is followed from now on."""
        self.subscribers.add(sub)
        ranked, event = self._standing(sub, self.clock(), {})
        sub.standing = ranked
        return event

    def discard(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def tick(self) -> int:
        """Offer a ``standing`` event to every personal stream whose rank or score moved; returns how many."""
        if not self.dirty:
            return 0
        self.dirty = False
        now = self.clock()
        cache: dict[tuple[str, str, str], tuple[tuple[Any, Any], bytes]] = {}
        moved = 0
        for sub in list(self.subscribers):
            assert sub.user_id is not None  # noqa: S101 - only personal streams are added
            ranks = self.reads.index.board(self._scope(sub, now).board_id)
            row = ranks.rank(sub.user_id) if ranks is not None else None
            if ((row.rank, row.score) if row is not None else NOT_RANKED) == sub.standing:
                continue
            sub.standing, sub.standing_due = self._standing(sub, now, cache)
            moved += 1
            sub.offer()
        return moved

    def _scope(self, sub: Subscriber, now: datetime) -> Scope:
        """The current period of the stream's board and window (asked once per channel and tick)."""
        channel = (sub.board, sub.window)
        if self._scopes_at != now:
            self._scopes_at, self._scopes = now, {}
        scope = self._scopes.get(channel)
        if scope is None:
            scope = self._scopes[channel] = resolve(sub.window, None, sub.board, now, self.reads.index.definitions)
        return scope

    def _standing(self, sub: Subscriber, now: datetime,
                  cache: dict[tuple[str, str, str], tuple[tuple[Any, Any], bytes]]) -> tuple[tuple[Any, Any], bytes]:
        assert sub.user_id is not None  # noqa: S101 - only personal streams are asked
        key = (sub.board, sub.window, sub.user_id)
        if key not in cache:
            scope = self._scope(sub, now)
            body = self.reads.user(scope, sub.user_id, now)
            if body is None:
                ranks = self.reads.index.board(scope.board_id)
                body = {"user_id": sub.user_id, "username": self.reads.index.names.get(sub.user_id),
                        "score": None, "rank": None, "top_percent": None, **self.reads.meta(scope, ranks, now)}
            cache[key] = ((body["rank"], body["score"]), encode_standing(body))
        return cache[key]


async def follow_standings(personal: PersonalStandings, interval: float) -> None:
    """The process-wide tick of the personal streams (for the app's lifetime)."""
    while True:
        await asyncio.sleep(interval)
        personal.tick()
