"""Sealed periods: each day's and week's final standings on ``leaderboard-final``, once; old boards removed.

A period is **sealed** at its end plus ``SCOREBOARD_PERIOD_GRACE_S``: :mod:`stream_app.rules` dead-letters every
later event for it (by the record's broker timestamp), so from then on its board cannot change. The owner of
stage 2 emits the period's final — the top-K, ``total_players`` — once it also knows that every partition of
``score-events`` has been *applied* past that moment: stage 1 sends, with its lists on ``leaderboard-candidates``
and after them, a **watermark** per source partition (the broker time of the last record applied, or, when the
partition is caught up with its high watermark, the worker's clock minus :data:`IDLE_MARGIN_MS`). The candidates
topic has one partition, so a watermark never overtakes the lists it follows. A timer closes the period, not the
next event: a quiet day still gets its final.

Exactly once, across crashes, restarts and rebalances: ``leaderboard-final`` (compacted, keyed by board id) is the
record of what was sealed. When this worker becomes the owner of stage 2 it reads that topic to its end before
sealing anything, and a final counts as sealed only once the broker acknowledged it (idempotent producer, acks=all):
a crash before the acknowledgement leaves it unsealed, to be emitted by the next owner; a crash after leaves it in
the topic, where the next owner finds it. Ownership is checked just before each send.

Retention: a board whose period ended more than ``SCOREBOARD_PERIOD_RETENTION_DAYS`` ago is tombstoned on
``leaderboard-updates`` (and its lists deleted from the ``candidates`` table), so the compacted topic does not grow
forever; its final stays on ``leaderboard-final``. A new owner of stage 2 also reads ``leaderboard-updates``' keys
once, to remove expired boards it holds no lists for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from stream_app.topk import merge_top

log = logging.getLogger(__name__)
IDLE_MARGIN_MS = 5_000  # a caught-up partition's watermark trails the worker's clock by this (broker clock skew)
WATERMARK = "~wm|"  # key prefix of a watermark on leaderboard-candidates and in the candidates table
_TIMESTAMP = TypeAdapter(datetime)


def watermark_key(partition: int) -> str:
    return f"{WATERMARK}{partition}"


class PeriodSeal:
    """The owner of stage 2 seals periods (finals) and removes boards past the retention."""

    def __init__(self, stage2: Any, finals: Any, updates: Any, grace_ms: int, retention: timedelta,
                 source_partitions: Callable[[], Awaitable[int]], read_sealed: Callable[[], Awaitable[set[str]]],
                 read_published: Callable[[], Awaitable[set[str]]], generation: Callable[[], object] = lambda: None,
                 boards: Boards | None = None) -> None:
        self.stage2 = stage2
        self.boards = boards if boards is not None else Boards.default(ActionCatalog({}))  # None: global only
        self.finals = finals
        self.updates = updates
        self.grace_ms = grace_ms
        self.retention = retention
        self.source_partitions = source_partitions
        self.read_sealed = read_sealed
        self.read_published = read_published
        self.generation = generation
        self.watermarks: dict[int, int] = {}
        self.sealed: set[str] | None = None  # what leaderboard-final holds, read when this worker took stage 2
        self.sealed_in: object = None

    def on_watermark(self, partition: int, ms: int) -> None:
        if ms > self.watermarks.get(partition, -1):
            self.watermarks[partition] = ms

    def low_watermark(self, partitions: int) -> int | None:
        """The moment every source partition has been applied past (None while one is unknown)."""
        if any(p not in self.watermarks for p in range(partitions)):
            return None
        return min(self.watermarks[p] for p in range(partitions))

    async def tick(self, now: datetime) -> None:
        """Seal what is due and remove what is past the retention (only the owner of stage 2 does anything)."""
        if not self.stage2.owns():
            return
        if self.sealed is None or self.sealed_in != self.generation():
            self.sealed_in = self.generation()
            self.sealed = await self.read_sealed()
            self.watermarks.update(self.stage2.stored_watermarks())
            log.info("periods: %d finals already sealed on leaderboard-final", len(self.sealed))
            for board in sorted(await self.read_published()):  # boards this process has no lists of
                if bounds_of(self.boards, board) is not None and self.boards.is_expired(board, now, self.retention):
                    await self._remove(board)
        low = self.low_watermark(await self.source_partitions())
        for board in sorted(self.stage2.boards()):
            bounds = bounds_of(self.boards, board)
            if bounds is None:
                continue
            if self.boards.is_expired(board, now, self.retention):
                await self._remove(board)
            elif (board not in self.sealed and low is not None
                  and int(bounds[1].timestamp() * 1000) + self.grace_ms <= low):
                await self._seal(board, bounds, now)

    async def _seal(self, board: str, bounds: tuple[datetime, datetime], now: datetime) -> None:
        assert self.sealed is not None  # noqa: S101 - read in tick before anything is sealed
        lists = self.stage2.lists_for(board)
        parts = self.boards.parse(board)
        top = merge_top([entries for _, entries in lists.values()], self.stage2.top_k, parts.board.ascending)
        value = orjson.dumps({
            "board": parts.board.name, "board_id": board, "window": parts.window, "period": parts.period,
            "period_start": _TIMESTAMP.dump_python(bounds[0], mode="json"),
            "period_end": _TIMESTAMP.dump_python(bounds[1], mode="json"),
            "sealed_at": _TIMESTAMP.dump_python(now, mode="json"),
            "total_players": self.stage2.players(board),
            "data": [{"rank": i, "user_id": e.user_id, "username": e.username, "score": e.score}
                     for i, e in enumerate(top, 1)],
        })
        if not self.stage2.owns():
            return
        started = time.monotonic()
        await self.finals.send_and_wait(board.encode(), value)
        self.sealed.add(board)
        log.info("periods: sealed %s (%d players, top %d) in %.0f ms", board, self.stage2.players(board), len(top),
                 (time.monotonic() - started) * 1000)

    async def _remove(self, board: str) -> None:
        if not self.stage2.owns():
            return
        await self.updates.send(key=board.encode(), value=None)  # the read replicas drop it
        await self.stage2.forget(board)
        log.info("periods: %s is past the retention; removed from leaderboard-updates", board)


def bounds_of(boards: Boards, board: str) -> tuple[datetime, datetime] | None:
    """A board key's period bounds; None for ``alltime`` and for a key that is no board key (a record on a public
    topic that is not ours, a board removed from the file: skipped, said once per read, never the worker's end)."""
    try:
        return boards.bounds(board)
    except ValueError as exc:
        log.warning("periods: skipping %r: %s", board[:100], exc)
        return None

