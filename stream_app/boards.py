"""The two stages of the live boards, wired to Kafka.

Stage 1, :class:`LocalTopK`, runs beside the ingest agent: per owned partition and board an ordered index over
all users (rebuilt from the ``state`` table when a partition is assigned); when a partition's local top-K of a
board changes, the whole local list goes to the one-partition ``leaderboard-candidates`` topic, keyed
``<board>|<partition>``, with a sequence number (the highest source offset applied in that partition).
Stage 2, :class:`GlobalTopK`, consumes that topic: it keeps the latest list per source partition in the
``candidates`` table (replace, never add), merges, and when a board's global top-K changes emits it to
``leaderboard-updates`` through :class:`Emitter`, at most once per board per interval, the last state always.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas.leaderboard import LeaderboardRow, LeaderboardSnapshot, Window
from schemas.periods import is_expired
from stream_app.ingest import UserChange
from stream_app.scoring import UserState
from stream_app.tables import USER
from stream_app.topk import BoardIndex, Entry, merge_top

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def encode_candidates(board: str, partition: int, seq: int, entries: list[Entry]) -> bytes:
    return orjson.dumps({"board": board, "partition": partition, "seq": seq, "entries": [list(e) for e in entries]})


def decode_entries(raw: list[list[Any]]) -> list[Entry]:
    return [Entry(str(e[0]), int(e[1]), int(e[2]), e[3]) for e in raw]


class LocalTopK:
    """Stage 1: ordered indexes of the partitions this worker owns."""

    def __init__(self, table: Any, candidates: Any, top_k: int, retention: timedelta) -> None:
        self.table = table
        self.candidates = candidates
        self.top_k = top_k
        self.retention = retention
        self.indexes: dict[int, dict[str, BoardIndex]] = {}
        self.seq: dict[int, int] = {}
        self.last_sent: dict[tuple[int, str], list[Entry]] = {}

    def rebuild(self, partition: int, items: Any) -> None:
        """Index every user of ``partition`` from the table's (key, value) pairs."""
        boards: dict[str, BoardIndex] = {}
        seq = -1
        now = _now()
        for key, value in items:
            if not key.startswith(USER):
                continue
            state = UserState.from_json(value)
            seq = max(seq, state.offset)
            user_id = key[len(USER):]
            for board, (score, since) in state.boards.items():
                if not is_expired(board, now, self.retention):
                    boards.setdefault(board, BoardIndex()).upsert(Entry(user_id, score, since, state.username))
        self.indexes[partition] = boards
        self.seq[partition] = seq
        for board in [b for (p, b) in self.last_sent if p == partition]:
            self.last_sent.pop((partition, board), None)

    def drop(self, partition: int) -> None:
        self.indexes.pop(partition, None)
        self.seq.pop(partition, None)
        for key in [k for k in self.last_sent if k[0] == partition]:
            del self.last_sent[key]

    def prune_expired(self) -> None:
        now = _now()
        for boards in self.indexes.values():
            for board in [b for b in boards if is_expired(b, now, self.retention)]:
                del boards[board]

    async def on_changes(self, changes: list[UserChange]) -> None:
        dirty: set[tuple[int, str]] = set()
        for change in changes:
            boards = self.indexes.get(change.partition)
            if boards is None:  # not indexed yet: the timer rebuilds it from the table (which has this change)
                continue
            self.seq[change.partition] = max(self.seq.get(change.partition, -1), change.state.offset)
            for board in change.boards:
                score, since = change.state.boards[board]
                boards.setdefault(board, BoardIndex()).upsert(
                    Entry(change.user_id, score, since, change.state.username)
                )
                dirty.add((change.partition, board))
        await self.send(dirty)

    async def send(self, dirty: set[tuple[int, str]], force: bool = False) -> None:
        for partition, board in sorted(dirty):
            index = self.indexes.get(partition, {}).get(board)
            if index is None:
                continue
            top = index.top(self.top_k)
            if not force and self.last_sent.get((partition, board)) == top:
                continue
            self.last_sent[(partition, board)] = top
            value = encode_candidates(board, partition, self.seq.get(partition, -1), top)
            await self.candidates.send(key=f"{board}|{partition}".encode(), value=value)

    async def resend(self, partition: int) -> None:
        await self.send({(partition, b) for b in self.indexes.get(partition, {})}, force=True)


class Emitter:
    """Coalesced emission: at most one board per ``interval`` per board id, and the latest always goes out."""

    def __init__(self, updates: Any, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.updates = updates
        self.interval = interval_s
        self.clock = clock
        self.latest: dict[str, list[Entry]] = {}
        self.last_emit: dict[str, float] = {}
        self.version: dict[str, int] = {}
        self.scheduled: dict[str, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def offer(self, board: str, top: list[Entry]) -> None:
        self.latest[board] = top
        if board in self.scheduled:
            return  # an emission is already due; it will carry this latest state
        wait = self.last_emit.get(board, -1e18) + self.interval - self.clock()
        if wait <= 0:
            await self.emit(board)
        else:
            loop = asyncio.get_running_loop()
            self.scheduled[board] = loop.call_later(wait, self._fire, board)

    def _fire(self, board: str) -> None:
        self.scheduled.pop(board, None)
        task = asyncio.ensure_future(self.emit(board))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def snapshot(self, board: str) -> LeaderboardSnapshot:
        window, _, period = board.partition(":")
        version = max(self.version.get(board, 0) + 1, time.time_ns() // 1000)
        self.version[board] = version
        rows = [LeaderboardRow(rank=i + 1, user_id=e.user_id, username=e.username, score=e.score)
                for i, e in enumerate(self.latest[board])]
        window_name: Window = "daily" if window == "daily" else "weekly" if window == "weekly" else "alltime"
        return LeaderboardSnapshot(data=rows, timestamp=_now(), window=window_name, period=period or None,
                                   version=version)

    async def emit(self, board: str) -> None:
        self.last_emit[board] = self.clock()
        body = self.snapshot(board).model_dump(mode="json")
        try:
            await self.updates.send(key=board.encode(), value=orjson.dumps(body))
        except Exception:  # the next change re-emits the whole board; never lose the agent over one send
            log.exception("emitting board %s failed", board)


class GlobalTopK:
    """Stage 2: latest local list per (board, partition) in a table, merged per board."""

    def __init__(self, table: Any, emitter: Emitter, top_k: int, retention: timedelta) -> None:
        self.table = table
        self.emitter = emitter
        self.top_k = top_k
        self.retention = retention
        self.last_top: dict[str, list[Entry]] = {}

    def lists_for(self, board: str) -> list[list[Entry]]:
        prefix = f"{board}|"
        return [decode_entries(v["entries"]) for k, v in self.table.items() if k.startswith(prefix)]

    async def on_candidates(self, value: bytes) -> None:
        msg = orjson.loads(value)
        board, partition, seq = msg["board"], int(msg["partition"]), int(msg["seq"])
        if is_expired(board, _now(), self.retention):
            return
        key = f"{board}|{partition}"
        stored = self.table.get(key)
        if stored is not None and int(stored["seq"]) > seq:
            return  # a stale list from a worker that lost the partition
        self.table[key] = {"seq": seq, "entries": msg["entries"]}
        top = merge_top(self.lists_for(board), self.top_k)
        if self.last_top.get(board) != top:
            self.last_top[board] = top
            await self.emitter.offer(board, top)
