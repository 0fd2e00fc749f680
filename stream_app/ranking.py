"""The two stages of the live boards, wired to Kafka.

Stage 1, :class:`LocalTopK`, runs beside the ingest agent: per owned partition and board an index over all users
(rebuilt from the ``state`` table when a partition is assigned); changed lists are flushed together at most once
per half interval: when a partition's local top-K of a board changed, the whole local list goes to the
one-partition ``leaderboard-candidates`` topic, keyed ``<board>|<partition>``, with a sequence number (the highest
source offset applied in that partition) — and straight to stage 2 when this worker owns it.
Stage 2, :class:`GlobalTopK`, consumes that topic: it keeps the latest list per source partition in the
``candidates`` table (replace, never add), merges, and when a board's global top-K changes emits it to
``leaderboard-updates`` through :class:`Emitter`, at most once per board per interval, the last state always;
the users who moved in that top since the board it last sent go to ``rank-changes`` with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
from pydantic import TypeAdapter

from schemas.periods import board_id, is_expired, period_for, period_start_us
from stream_app.ingest import UserChange
from stream_app.rank_changes import RankMove, diff_tops
from stream_app.record_batches import RecordBatches
from stream_app.scoring import UserState
from stream_app.tables import USER, PartitionStore, partition_items
from stream_app.topk import BoardIndex, Entry, merge_top

log = logging.getLogger(__name__)
K = TypeVar("K")
_TIMESTAMP = TypeAdapter(datetime)  # serializes a timestamp exactly as LeaderboardSnapshot does
class LocalList(NamedTuple):
    """One partition's top-K on one board, as stage 1 sends it to stage 2. ``seq`` is the highest source offset
    applied in the partition: a list with a lower ``seq`` is stale (from a worker that lost the partition)."""

    board: str
    partition: int
    seq: int
    entries: list[Entry]


LocalSink = Callable[[list[LocalList]], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


def encode_candidates(board: str, partition: int, seq: int, entries: list[Entry]) -> bytes:
    return orjson.dumps({"board": board, "partition": partition, "seq": seq, "entries": [list(e) for e in entries]})


def encode_move(board: str, move: RankMove, version: int) -> bytes:
    """One ``rank-changes`` value, the same bytes as ``RankChange.model_dump_json`` (tested)."""
    return orjson.dumps({"board": board, "user_id": move.user_id, "old_rank": move.old_rank,
                         "new_rank": move.new_rank, "passed": move.passed, "version": version})


def decode_entries(raw: list[list[Any]]) -> list[Entry]:
    return [Entry(str(e[0]), int(e[1]), int(e[2]), e[3]) for e in raw]


class LocalTopK:
    """Stage 1: board indexes of the partitions this worker owns.

    Changed (partition, board) pairs are collected and flushed together, at most once per interval (the first
    change after a quiet interval at once): one producer send for all their lists, one hand-over to stage 2.
    """

    def __init__(self, batches: RecordBatches, candidates_topic: str, top_k: int, retention: timedelta,
                 interval_s: float, local: LocalSink | None = None,
                 load: Callable[[int], Iterable[tuple[str, Any]]] | None = None,
                 generation: Callable[[], object] = lambda: None) -> None:
        self.batches = batches
        self.generation = generation
        self.indexed_in: dict[int, object] = {}  # partition -> consumer generation it was indexed in
        self.load = load  # a partition's (key, value) pairs from the table, to index it on its first change
        self.candidates_topic = candidates_topic
        self.local = local
        self.top_k = top_k
        self.retention = retention
        self.indexes: dict[int, dict[str, BoardIndex]] = {}
        self.seq: dict[int, int] = {}
        self.last_sent: dict[tuple[int, str], list[Entry]] = {}
        self.dirty: set[tuple[int, str]] = set()
        self.coalescer: Coalescer[None] = Coalescer(interval_s, self.flush)

    def rebuild(self, partition: int, items: Any) -> None:
        """Index every user of ``partition`` from the table's (key, value) pairs; lists are all sent afresh."""
        self.drop(partition)
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
        self.indexed_in[partition] = self.generation()

    def stale(self) -> list[int]:
        """Partitions indexed before the last rebalance (their users may have changed on another worker)."""
        now = self.generation()
        return [p for p in self.indexes if self.indexed_in.get(p) != now]

    def drop(self, partition: int) -> None:
        self.indexes.pop(partition, None)
        self.indexed_in.pop(partition, None)
        self.seq.pop(partition, None)
        for key in [k for k in self.last_sent if k[0] == partition]:
            del self.last_sent[key]

    def prune_expired(self) -> None:
        now = _now()
        for boards in self.indexes.values():
            for board in [b for b in boards if is_expired(b, now, self.retention)]:
                del boards[board]

    async def on_changes(self, changes: list[UserChange]) -> None:
        """Index a batch's changed users. A board a change names may be gone from the user's final state (an
        event of the batch counted on a period that a later event of the same batch saw expire): the user then
        leaves that board's index. Should indexing a change fail anyway, the partition is dropped and the timer
        rebuilds it from the table, which holds every change: the boards heal, the worker never stops."""
        dirty = self.dirty
        for change in changes:
            boards = self.indexes.get(change.partition)
            if boards is None:  # not indexed yet: index it now from the table, which already has this change
                if self.load is not None:
                    self._index_now(change.partition, self.load)
                continue
            try:
                self._index_change(boards, change)
            except Exception:
                log.exception("boards: indexing a change of partition %d failed; it is rebuilt from the table",
                              change.partition)
                self.drop(change.partition)
        if dirty:
            await self.coalescer.offer(None)

    def _index_now(self, partition: int, load: Callable[[int], Iterable[tuple[str, Any]]]) -> None:
        """A partition's first change came before the partition timer indexed it (the first seconds after a
        start or a rebalance): index it at once, and send all its lists with the next flush, so the boards follow
        the events from the first one on."""
        try:
            self.rebuild(partition, load(partition))
        except Exception:
            log.exception("boards: indexing partition %d failed; the partition timer tries again", partition)
            self.drop(partition)
            return
        self.dirty.update((partition, board) for board in self.indexes[partition])
        log.debug("boards: indexed partition %d on its first change", partition)

    def _index_change(self, boards: dict[str, BoardIndex], change: UserChange) -> None:
        if change.state.offset > self.seq.get(change.partition, -1):
            self.seq[change.partition] = change.state.offset
        for board in change.boards:
            totals = change.state.boards.get(board)
            index = boards.get(board)
            if totals is None:
                if index is not None:
                    index.remove(change.user_id)
            else:
                if index is None:
                    index = boards[board] = BoardIndex()
                index.upsert(Entry(change.user_id, totals[0], totals[1], change.state.username))
            self.dirty.add((change.partition, board))

    async def flush(self, _: None = None) -> None:
        """Send the lists of every changed (partition, board) whose local top-K changed."""
        keys, self.dirty = sorted(self.dirty), set()
        await self._publish([item for key in keys if (item := self._list(key, force=False)) is not None])

    async def resend(self, partition: int) -> None:
        lists = [self._list((partition, board), force=True) for board in list(self.indexes.get(partition, {}))]
        await self._publish([item for item in lists if item is not None])

    def _list(self, key: tuple[int, str], force: bool) -> LocalList | None:
        partition, board = key
        index = self.indexes.get(partition, {}).get(board)
        if index is None:
            return None
        top = index.top(self.top_k)
        if not force and self.last_sent.get(key) == top:
            return None
        self.last_sent[key] = top
        return LocalList(board, partition, self.seq.get(partition, -1), top)

    async def _publish(self, lists: list[LocalList]) -> None:
        if not lists:
            return
        for board, partition, seq, top in lists:  # the candidates topic has one partition
            self.batches.add(self.candidates_topic, 0, f"{board}|{partition}".encode(),
                            encode_candidates(board, partition, seq, top))
        await self.batches.send()
        if self.local is not None:
            await self.local(lists)


class Coalescer(Generic[K]):
    """Runs ``action(key)`` at most once per ``interval`` per key, and always once more after the last offer.

    The first offer after a quiet interval runs at once (no added latency); offers inside the interval are folded
    into one run at its end, which sees the latest state.
    """

    def __init__(self, interval_s: float, action: Callable[[K], Awaitable[None]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval_s
        self.action = action
        self.clock = clock
        self.last_run: dict[K, float] = {}
        self.scheduled: dict[K, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def offer(self, key: K) -> None:
        if key in self.scheduled:
            return  # a run is already due; it will see this latest state
        wait = self.last_run.get(key, -1e18) + self.interval - self.clock()
        if wait <= 0:
            await self.run(key)
        else:
            self.scheduled[key] = asyncio.get_running_loop().call_later(wait, self._fire, key)

    async def run(self, key: K) -> None:
        self.last_run[key] = self.clock()
        try:
            await self.action(key)
        except Exception:  # the next change runs it again with the whole state; never lose the agent over it
            log.exception("coalesced run for %r failed", key)

    def _fire(self, key: K) -> None:
        self.scheduled.pop(key, None)
        self.last_run[key] = self.clock()  # now, not when the task starts: an offer in between must wait
        task = asyncio.ensure_future(self.run(key))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class Emitter:
    """Emits boards to ``leaderboard-updates``, coalesced per board id (see :class:`Coalescer`), and with each board
    the users who moved in its top to ``rank-changes`` (one record per user, key ``user_id``; see
    :mod:`stream_app.rank_changes`), under the version of that board.

    A move is a difference between two boards this emitter sent itself in one consumer generation (``sent``,
    ``sent_in``). The first board of a board id after a start or a rebalance has no such predecessor (this process
    does not know what was last emitted, perhaps by another worker) and goes out without rank changes: the moves
    of that one step are not reported, rather than reported against a top nobody saw. A period opened empty
    (:meth:`open_period`) is a known predecessor: its first scores enter it.
    """

    def __init__(self, updates: Any, interval_s: float, clock: Callable[[], float] = time.monotonic,
                 rank_changes: Any = None, generation: Callable[[], object] = lambda: None) -> None:
        self.updates = updates
        self.rank_changes = rank_changes
        self.generation = generation
        self.latest: dict[str, list[Entry]] = {}
        self.version: dict[str, int] = {}
        self.sent: dict[str, list[Entry]] = {}
        self.sent_in: dict[str, object] = {}  # board -> the consumer generation its ``sent`` top went out in
        self.coalescer: Coalescer[str] = Coalescer(interval_s, self.emit, clock)

    async def offer(self, board: str, top: list[Entry]) -> None:
        """Offer a board's top; the same top as the last one offered changes nothing."""
        if self.latest.get(board) == top:
            return
        self.latest[board] = top
        await self.coalescer.offer(board)

    async def emit(self, board: str) -> None:
        top = self.latest[board]
        previous = self.sent.get(board)
        if previous == top:
            return  # a coalesced run after the state it carries already went out: no new version for it
        generation = self.generation()
        baseline = previous if self.sent_in.get(board) == generation else None
        self.sent[board], self.sent_in[board] = top, generation
        await self.updates.send(key=board.encode(), value=self.encode(board))
        if baseline is not None and self.rank_changes is not None:
            version = self.version[board]  # the board's, just set by ``encode``
            for move in diff_tops([e.user_id for e in baseline], [e.user_id for e in top]):
                await self.rank_changes.send(key=move.user_id.encode(), value=encode_move(board, move, version))

    async def open_period(self, board: str, start_us: int) -> None:
        """A new period's board before any score reached it: empty, with the version every process gives it,
        ``max(highest version of the window + 1, the period's start in µs)`` (see ``sse_server.boards``)."""
        if board in self.latest:
            return
        window = board.partition(":")[0] + ":"
        highest = max((v for b, v in self.version.items() if b.startswith(window)), default=0)
        self.latest[board] = self.sent[board] = []
        self.sent_in[board] = self.generation()
        await self.updates.send(key=board.encode(), value=self.encode(board, max(highest + 1, start_us)))

    def encode(self, board: str, version: int | None = None) -> bytes:
        """The board as JSON, the same bytes as ``LeaderboardSnapshot.model_dump_json`` (tested), built without
        the models: it runs for every emission of up to ``top_k`` rows."""
        window, _, period = board.partition(":")
        if version is None:
            version = max(self.version.get(board, 0) + 1, time.time_ns() // 1000)
        self.version[board] = version
        rows = [{"rank": i, "user_id": e.user_id, "username": e.username, "score": e.score}
                for i, e in enumerate(self.latest[board], 1)]
        return orjson.dumps({
            "data": rows, "timestamp": _TIMESTAMP.dump_python(_now(), mode="json"),
            "window": window if window in ("daily", "weekly") else "alltime", "period": period or None,
            "version": version,
        })


class GlobalTopK:
    """Stage 2: latest local list per (board, partition), kept decoded in memory and in a table for restarts."""

    def __init__(self, store: PartitionStore, emitter: Emitter, top_k: int, retention: timedelta,
                 generation: Callable[[], object] = lambda: None, owns: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.owns = owns
        self.emitter = emitter
        self.top_k = top_k
        self.retention = retention
        self.generation = generation
        self.seen_generation: object = None
        self.lists: dict[str, dict[int, tuple[int, list[Entry]]]] = {}

    def lists_for(self, board: str) -> dict[int, tuple[int, list[Entry]]]:
        """The board's lists; read from the table once per board (and again after a rebalance)."""
        if self.generation() != self.seen_generation:
            self.seen_generation = self.generation()
            self.lists.clear()
        lists = self.lists.get(board)
        if lists is None:
            prefix = f"{board}|"
            lists = self.lists[board] = {
                int(k[len(prefix):]): (int(v["seq"]), decode_entries(v["entries"]))
                for k, v in partition_items(self.store.table, 0, prefix)
            }
        return lists

    async def on_local(self, lists: list[LocalList]) -> None:
        """Lists from this worker's own stage 1, handed over in-process while this worker owns stage 2 (the one
        ``leaderboard-candidates`` partition): one Kafka round trip less before a board changes. The lists also go
        through the topic, which is what persists and replays them; receiving them again there changes nothing."""
        if not self.owns():
            return
        now = _now()
        dirty = {board for board, partition, seq, entries in lists
                 if not is_expired(board, now, self.retention) and self._keep(board, partition, seq, entries)}
        await self._emit(dirty)

    async def on_candidates(self, messages: list[Any]) -> None:
        """Apply a batch of candidate lists: only the newest per (board, partition) counts, one merge per board.

        Folding the batch first is what lets stage 2 catch up after a burst instead of merging every
        intermediate list.
        """
        newest: dict[tuple[str, int], tuple[int, list[list[Any]], list[Entry]]] = {}
        for message in messages:
            try:
                msg = orjson.loads(message.value)
                key = (str(msg["board"]), int(msg["partition"]))
                seq, entries = int(msg["seq"]), list(msg["entries"])
                decoded = decode_entries(entries)
            except (ValueError, KeyError, TypeError, IndexError) as exc:  # not ours or corrupt: skip it, say why
                log.warning("skipping a malformed candidates record: %r", exc)
                continue
            if key not in newest or newest[key][0] <= seq:
                newest[key] = (seq, entries, decoded)
        dirty: set[str] = set()
        writes: list[tuple[str, Any]] = []
        now = _now()
        for (board, partition), (seq, entries, decoded) in newest.items():
            if is_expired(board, now, self.retention):
                self.lists.pop(board, None)
                continue
            stored = self.lists_for(board).get(partition)
            if stored is not None and stored[0] > seq:
                continue  # a stale list from a worker that lost the partition
            if self._keep(board, partition, seq, decoded):
                dirty.add(board)
            writes.append((f"{board}|{partition}", {"seq": seq, "entries": entries}))
        self.store.write(0, writes)  # the candidates table has one partition
        await self.store.batches.send()
        await self._emit(dirty)

    async def open_periods(self, now: datetime) -> None:
        """At a period change, the new day's and week's boards go out empty at once (a timer, not the next event),
        so every reader switches to them with a version of their own. Only the owner of stage 2 does it, and only
        for a board no list reached yet (after a restart, one with scores is not emptied)."""
        if not self.owns():
            return
        for window in ("daily", "weekly"):
            board = board_id(window, period_for(window, now))
            if board not in self.emitter.latest and not any(e for _, e in self.lists_for(board).values()):
                await self.emitter.open_period(board, period_start_us(window, now))

    def _keep(self, board: str, partition: int, seq: int, entries: list[Entry]) -> bool:
        """Store a partition's list unless a newer one is held; True when the board's lists changed."""
        lists = self.lists_for(board)
        stored = lists.get(partition)
        if stored is not None and (stored[0] > seq or (stored[0] == seq and stored[1] == entries)):
            return False  # a stale list (from a worker that lost the partition), or this very list again
        lists[partition] = (seq, entries)
        return True

    async def _emit(self, boards: set[str]) -> None:
        for board in sorted(boards):
            await self.emitter.offer(board, merge_top([entries for _, entries in self.lists[board].values()],
                                                      self.top_k))
