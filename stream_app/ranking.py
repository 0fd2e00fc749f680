"""The two stages of the live boards, wired to Kafka.

Stage 1, :class:`LocalTopK`, runs beside the ingest agent: per owned partition and board an index over all users
(rebuilt from the ``state`` table when a partition is assigned); changed lists are flushed together at most once
per half interval (a list whose only change is its player count, once a second: :mod:`stream_app.count_rounds`):
when a partition's local top-K of a board changed, the whole local list goes to the
one-partition ``leaderboard-candidates`` topic, keyed ``<board>|<partition>``, with a sequence number (the highest
source offset applied in that partition) — and straight to stage 2 when this worker owns it.
Stage 2, :class:`GlobalTopK`, consumes that topic: it keeps the latest list per source partition in the
``candidates`` table (replace, never add), merges, and when a board's global top-K changes emits it to
``leaderboard-updates`` through :class:`Emitter`, on average at most once per board per interval (two in a row at
most), the last state always;
the users who moved in that top since the board it last sent go to ``rank-changes`` with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from stream_app.count_rounds import CountRounds
from stream_app.emitter import Coalescer, Emitter
from stream_app.ingest import UserChange
from stream_app.record_batches import RecordBatches
from stream_app.scoring import UserState
from stream_app.seal import WATERMARK, watermark_key
from stream_app.tables import USER, PartitionStore, partition_items, raw_partition_items
from stream_app.topk import BoardIndex, Entry, merge_top

log = logging.getLogger(__name__)
class LocalList(NamedTuple):
    """One partition's top-K on one board, as stage 1 sends it to stage 2. ``seq`` is the highest source offset
    applied in the partition: a list with a lower ``seq`` is stale (from a worker that lost the partition)."""

    board: str
    partition: int
    seq: int
    entries: list[Entry]
    players: int = 0  # on the board in the partition (stage 2 sums them: total_players of a final)


LocalSink = Callable[[list[LocalList]], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


def encode_candidates(board: str, partition: int, seq: int, entries: list[Entry], count: int = 0) -> bytes:
    return orjson.dumps({"board": board, "partition": partition, "seq": seq, "entries": [list(e) for e in entries],
                         "count": count})


def decode_entries(raw: list[list[Any]]) -> list[Entry]:
    return [Entry(str(e[0]), int(e[1]), int(e[2]), e[3]) for e in raw]


class LocalTopK:
    """Stage 1: board indexes of the partitions this worker owns.

    Changed (partition, board) pairs are collected and flushed together, at most once per interval (the first
    change after a quiet interval at once): one producer send for all their lists, one hand-over to stage 2.
    """

    def __init__(self, batches: RecordBatches, candidates_topic: str, top_k: int,
                 retention: timedelta, interval_s: float, local: LocalSink | None = None,
                 load: Callable[[int], Iterable[tuple[str, Any]]] | None = None,
                 generation: Callable[[], object] = lambda: None, boards: Boards | None = None,
                 counts: CountRounds | None = None) -> None:
        self.batches = batches
        self.boards = boards if boards is not None else Boards.default(ActionCatalog({}))  # None: global only
        self.generation = generation
        self.indexed_in: dict[int, object] = {}  # partition -> consumer generation it was indexed in
        self.load = load  # a partition's (key, value) pairs from the table, to index it on its first change
        self.candidates_topic = candidates_topic
        self.local = local
        self.top_k = top_k
        self.retention = retention
        self.indexes: dict[int, dict[str, BoardIndex]] = {}
        self.seq: dict[int, int] = {}
        self.watermark: dict[int, int] = {}  # partition -> broker time (ms) every record up to has been applied
        self.watermark_sent: dict[int, int] = {}
        self.processed: dict[int, int] = {}  # partition -> the offset after the last record handled
        self.busy = 0  # batches being applied now (the idle watermark waits for none)
        self.last_sent: dict[tuple[int, str], tuple[list[Entry], int]] = {}
        self.dirty: set[tuple[int, str]] = set()
        self.coalescer: Coalescer[None] = Coalescer(interval_s, self.flush)
        self.counts = counts if counts is not None else CountRounds()  # count-only lists: once a second at most

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
            for board, (score, since) in state.visible_boards().items():  # a banned user is on no board
                if not self.boards.gone(board, now, self.retention):
                    index = boards.get(board)
                    if index is None:
                        index = boards[board] = BoardIndex(self.boards.ascending(board))
                    index.upsert(Entry(user_id, score, since, state.username))
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
        self.processed.pop(partition, None)
        for key in [k for k in self.last_sent if k[0] == partition]:
            del self.last_sent[key]
        self.counts.drop(partition)

    def prune_expired(self) -> None:
        now = _now()
        for boards in self.indexes.values():
            for board in [b for b in boards if self.boards.gone(b, now, self.retention)]:
                del boards[board]

    def handled(self, messages: list[Any]) -> None:
        """A batch of ``score-events`` was applied: every record of it moves its partition's watermark (dead letters
        and duplicates too: they were decided)."""
        for message in messages:
            partition = message.partition
            self.processed[partition] = message.offset + 1
            ms = int(message.timestamp * 1000)
            if ms > self.watermark.get(partition, -1):
                self.watermark[partition] = ms

    async def idle(self, partition: int, caught_up_at_ms: int) -> None:
        """The partition has no record left to apply (caught up with its high watermark): every record appended
        later is stamped later than ``caught_up_at_ms`` by the broker, so the watermark moves up to it."""
        if caught_up_at_ms > self.watermark.get(partition, -1):
            self.watermark[partition] = caught_up_at_ms
            await self.coalescer.offer(None)

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
        if dirty or any(self.watermark.get(p) != self.watermark_sent.get(p) for p in self.watermark):
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
        shown = change.state.visible_boards()  # a banned user leaves every board
        for board in change.boards:
            totals = shown.get(board)
            index = boards.get(board)
            if totals is None:
                if index is not None:
                    index.remove(change.user_id)
            else:
                if index is None:
                    if self.boards.gone(board, _now(), self.retention):
                        continue  # expired, or of a board no longer defined: not ranked
                    index = boards[board] = BoardIndex(self.boards.ascending(board))
                index.upsert(Entry(change.user_id, totals[0], totals[1], change.state.username))
            self.dirty.add((change.partition, board))

    async def flush(self, _: None = None) -> None:
        """Send the lists of every changed (partition, board) whose local top-K changed, or whose player count
        changed when its partition's count round is due (:mod:`stream_app.count_rounds`), then the partitions'
        watermarks (after the lists, in the same partition: a watermark never overtakes them)."""
        ready = self.counts.start()
        keys, self.dirty = sorted(self.dirty | ready), set()
        try:
            lists = [item for key in keys if (item := self._list(key, force=False)) is not None]
        except Exception:
            self.dirty.update(keys)  # tried again by the next flush; their partitions' watermarks wait meanwhile
            raise
        finally:
            self.counts.finish()
        await self._publish(lists)

    async def _send_watermarks(self) -> None:
        # a list not sent yet (waiting for its count round, or changed since the last flush: a resend of another
        # partition runs between flushes) holds its partition's watermark back
        held = self.counts.held() | {partition for partition, _ in self.dirty}
        moved = {p: ms for p, ms in self.watermark.items()
                 if self.watermark_sent.get(p) != ms and p in self.indexes and p not in held}
        for partition, ms in sorted(moved.items()):
            self.batches.add(self.candidates_topic, 0, watermark_key(partition).encode(),
                             orjson.dumps({"watermark": ms, "partition": partition}))
        self.watermark_sent.update(moved)

    async def resend(self, partition: int) -> None:
        lists = [self._list((partition, board), force=True) for board in list(self.indexes.get(partition, {}))]
        await self._publish([item for item in lists if item is not None])

    def _list(self, key: tuple[int, str], force: bool) -> LocalList | None:
        partition, board = key
        index = self.indexes.get(partition, {}).get(board)
        if index is None:
            return None
        top = index.top(self.top_k)
        sent = self.last_sent.get(key)
        if not force and sent == (top, len(index)):
            self.counts.sent(key)
            return None
        if not force and sent is not None and sent[0] == top and len(index) > sent[1] and self.counts.holds(key):
            return None  # only new players below the top: they go with the partition's next count round
        self.counts.sent(key)
        self.last_sent[key] = (top, len(index))
        return LocalList(board, partition, self.seq.get(partition, -1), top, len(index))

    async def _publish(self, lists: list[LocalList]) -> None:
        for board, partition, seq, top, count in lists:  # the candidates topic has one partition
            self.batches.add(self.candidates_topic, 0, f"{board}|{partition}".encode(),
                            encode_candidates(board, partition, seq, top, count))
        await self._send_watermarks()
        await self.batches.send()
        if not lists:
            return
        if self.local is not None:
            await self.local(lists)


class GlobalTopK:
    """Stage 2: latest local list per (board, partition), kept decoded in memory and in a table for restarts."""

    def __init__(self, store: PartitionStore, emitter: Emitter, top_k: int, retention: timedelta,
                 generation: Callable[[], object] = lambda: None, owns: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.definitions = emitter.boards
        self.owns = owns
        self.emitter = emitter
        self.top_k = top_k
        self.retention = retention
        self.generation = generation
        self.seen_generation: object = None
        self.lists: dict[str, dict[int, tuple[int, list[Entry]]]] = {}
        self.counts: dict[str, dict[int, int]] = {}  # board -> partition -> players there (from the lists)
        self.on_watermark: Callable[[int, int], None] = lambda _partition, _ms: None  # the period seal's

    def lists_for(self, board: str) -> dict[int, tuple[int, list[Entry]]]:
        """The board's lists; read from the table once per board (and again after a rebalance)."""
        if self.generation() != self.seen_generation:
            self.seen_generation = self.generation()
            self.lists.clear()
            self.counts.clear()
        lists = self.lists.get(board)
        if lists is None:
            prefix = f"{board}|"
            stored = partition_items(self.store.table, 0, prefix)
            lists = self.lists[board] = {
                int(k[len(prefix):]): (int(v["seq"]), decode_entries(v["entries"])) for k, v in stored
            }
            self.counts[board] = {int(k[len(prefix):]): int(v.get("count", 0)) for k, v in stored}
        return lists

    def players(self, board: str) -> int:
        """Players on the board: the sum of the partitions' counts sent with their lists."""
        self.lists_for(board)
        return sum(self.counts.get(board, {}).values())

    def boards(self) -> set[str]:
        """Every board id with lists in the table (and any opened empty)."""
        keys = (orjson.loads(key) for key, _ in raw_partition_items(self.store.table, 0))
        return {key.partition("|")[0] for key in keys if not key.startswith(WATERMARK)} | set(self.emitter.latest)

    def stored_watermarks(self) -> dict[int, int]:
        return {int(k[len(WATERMARK):]): int(v["watermark"])
                for k, v in partition_items(self.store.table, 0, WATERMARK)}

    async def forget(self, board: str) -> None:
        """A board past the retention: its lists leave the table and the candidates topic (tombstones)."""
        prefix = f"{board}|"
        keys = [k for k, _ in partition_items(self.store.table, 0, prefix)]
        self.store.write(0, [(k, None) for k in keys])
        await self.store.batches.send()
        self.lists.pop(board, None)
        self.counts.pop(board, None)
        self.emitter.forget(board)

    async def on_local(self, lists: list[LocalList]) -> None:
        """Lists from this worker's own stage 1, handed over in-process while this worker owns stage 2 (the one
        ``leaderboard-candidates`` partition): one Kafka round trip less before a board changes. The lists also go
        through the topic, which is what persists and replays them; receiving them again there changes nothing."""
        if not self.owns():
            return
        now = _now()
        dirty = {board for board, partition, seq, entries, count in lists
                 if not self.definitions.gone(board, now, self.retention)
                 and self._keep(board, partition, seq, entries, count)}
        await self._emit(dirty)

    async def on_candidates(self, messages: list[Any]) -> None:
        """Apply a batch of candidate lists: only the newest per (board, partition) counts, one merge per board.

        Folding the batch first is what lets stage 2 catch up after a burst instead of merging every
        intermediate list.
        """
        newest: dict[tuple[str, int], tuple[int, list[list[Any]], list[Entry], int]] = {}
        writes: list[tuple[str, Any]] = []
        for message in messages:
            try:
                msg = orjson.loads(message.value)
                if "watermark" in msg:  # stage 1's progress in a source partition (stream_app.seal)
                    partition, ms = int(msg["partition"]), int(msg["watermark"])
                    self.on_watermark(partition, ms)
                    writes.append((watermark_key(partition), {"watermark": ms}))
                    continue
                key = (self.definitions.check(str(msg["board"])), int(msg["partition"]))
                seq, entries, count = int(msg["seq"]), list(msg["entries"]), int(msg.get("count", 0))
                decoded = decode_entries(entries)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:  # not ours or corrupt
                log.warning("skipping a malformed candidates record: %r", exc)
                continue
            if key not in newest or newest[key][0] <= seq:
                newest[key] = (seq, entries, decoded, count)
        dirty: set[str] = set()
        now = _now()
        for (board, partition), (seq, entries, decoded, count) in newest.items():
            if self.definitions.gone(board, now, self.retention):
                self.lists.pop(board, None)
                continue
            stored = self.lists_for(board).get(partition)
            if stored is not None and stored[0] > seq:
                continue  # a stale list from a worker that lost the partition
            if self._keep(board, partition, seq, decoded, count):
                dirty.add(board)
            writes.append((f"{board}|{partition}", {"seq": seq, "entries": entries, "count": count}))
        self.store.write(0, writes)  # the candidates table has one partition
        await self.store.batches.send()
        await self._emit(dirty)

    async def open_periods(self, now: datetime) -> None:
        """At a period change, every board's new day, week or month goes out empty at once (a timer, not the next
        event), so every reader switches to them with a version of their own. Only the owner of stage 2 does it,
        and only for a board no list reached yet (after a restart, one with scores is not emptied)."""
        if not self.owns():
            return
        for definition in self.definitions:
            for window in definition.windows:
                if window == "alltime":
                    continue
                board = definition.key(window, definition.period(window, now))
                if board not in self.emitter.latest and not any(e for _, e in self.lists_for(board).values()):
                    await self.emitter.open_period(board, self.definitions.period_start_us(board))

    def _keep(self, board: str, partition: int, seq: int, entries: list[Entry], count: int) -> bool:
        """Store a partition's list unless a newer one is held; True when the board's top lists changed."""
        lists = self.lists_for(board)
        stored = lists.get(partition)
        if stored is not None and stored[0] > seq:
            return False  # a stale list, from a worker that lost the partition
        self.counts.setdefault(board, {})[partition] = count
        if stored is not None and stored[0] == seq and stored[1] == entries:
            return False  # this very list again (perhaps with another count: the top is the same)
        lists[partition] = (seq, entries)
        return True

    async def _emit(self, boards: set[str]) -> None:
        for board in sorted(boards):
            await self.emitter.offer(board, merge_top([entries for _, entries in self.lists[board].values()],
                                                      self.top_k, self.definitions.ascending(board)))
