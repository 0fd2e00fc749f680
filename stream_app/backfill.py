"""Filling a board from the audit log: a board added to the boards file later starts with everything it would have
had, exactly once, while live events keep flowing.

Per source partition and board a **marker** in the ``state`` table (``k:<board>``, changelogged with the users it
covers) says which definition (fingerprint) the board's data is of, up to which ``score-events`` offset the fill
has applied (``at``) and, once it caught up, the offset from which the live path applies the board (``live``).
Until then the live path leaves the board alone (:class:`BoardFill` is the ingestor's gate); the fill reads the
partition from offset 0 with its own group-less consumer and applies each record to that board only, with the
live path's own decisions: the same record rules (so dead letters stay dead letters), the duplicate decision
remade from the journal and the idempotency window, a reverted event left out. Every offset therefore reaches the
board once, in offset order: below ``live`` by the fill, from ``live`` on by the live path — as if the board had
existed from the start. The fill hands over inside the apply lock, when it has reached the partition's end and
everything the live path decided, so no record falls between the two.

Exactly once across crashes: each user's state remembers the last offset the fill applied to it (``fill``), written
in the same value as the scores; the marker is written after the users of each chunk, so a restart resumes from
the marker and skips what a user already has. A **changed definition** is a new board: its keys are stripped from
every user of the partition and it is filled again. Progress goes to ``board-status`` (``GET /leaderboards``).
The ``global`` board of a deployment from before boards were data is adopted as live, not filled again; and a
board the live path meets at a partition's first record (offset 0: a new deployment whose events came before its
first worker) is live there from offset 0, since nothing precedes it (the fill waits while the live path has not
read the partition yet; a board the live path makes live between two chunks of a tick is seen by the next chunk,
which applies nothing to it).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from schemas.boards import GLOBAL, Board, BoardDefinition, Boards
from stream_app.idempotency import EventRecord, event_key
from stream_app.ingest import BoardGate, Ingestor, Pending, PendingUser, UserChange, add_standings
from stream_app.rules import Accepted
from stream_app.scoring import ScoreOutOfRange, UserState, apply_event
from stream_app.tables import USER, partition_items

log = logging.getLogger(__name__)
FILL = "k:"
CHUNK = 2_000
DEFAULT_GLOBAL = Board(GLOBAL, BoardDefinition()).fingerprint


class Marker(NamedTuple):
    fingerprint: str
    at: int = 0
    live: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"fp": self.fingerprint, "at": self.at, "live": self.live}

    @classmethod
    def from_json(cls, raw: Any) -> Marker | None:
        if not raw:
            return None
        return cls(str(raw["fp"]), int(raw["at"]), None if raw["live"] is None else int(raw["live"]))


class FillRecord:
    """An aiokafka record as the rules read a Faust message (timestamp in seconds)."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "timestamp", "timestamp_type")

    def __init__(self, record: Any) -> None:
        self.topic, self.partition, self.offset = record.topic, record.partition, record.offset
        self.key, self.value = record.key, record.value
        self.timestamp, self.timestamp_type = record.timestamp / 1000, record.timestamp_type


def owns_key(board: Board, key: str) -> bool:
    return ("/" not in key) if board.name == GLOBAL else key.startswith(board.name + "/")


class BoardFill(BoardGate):
    """The ingestor's gate (which boards the live path applies) and the filler of the boards that are not live."""

    def __init__(self, ingestor: Ingestor, boards: Boards, consumer_factory: Any, status_topic: Any,
                 processed: dict[int, int], generation: Any,
                 live_position: Callable[[int], Awaitable[int | None]] | None = None) -> None:
        self.ingestor = ingestor
        self.boards = boards
        self.consumer_factory = consumer_factory  # () -> a started group-less AIOKafkaConsumer
        self.status_topic = status_topic
        self.processed = processed  # partition -> the offset after the last record the live path handled
        self.live_position = live_position  # partition -> the live consumer's fetch position (None: unknown)
        self.generation = generation
        self.loaded_in: dict[int, object] = {}
        self.markers: dict[int, dict[str, Marker]] = {}
        self.all_live_from: dict[int, int | None] = {}  # partition -> offset from which every board is live
        self.consumer: Any = None
        self.seen: OrderedDict[str, int] = OrderedDict()  # event key -> broker ms of its last application (fill)
        self.changes: list[UserChange] = []
        self.announced: set[int] = set()  # partitions whose live boards went to board-status in this generation
        self.announced_in: object = None

    # -- the gate (hot path: once per event) --
    def live(self, partition: int, offset: int, counting: tuple[tuple[Board, int], ...],
             ) -> tuple[tuple[Board, int], ...]:
        if self.loaded_in.get(partition) != self.generation():
            self._load(partition)
        from_ = self.all_live_from.get(partition)
        if from_ is not None and offset >= from_:
            return counting
        if offset == 0:
            self._live_from_start(partition)
        markers = self.markers[partition]
        return tuple((b, x) for b, x in counting
                     if (m := markers.get(b.name)) is not None and m.live is not None and offset >= m.live)

    async def _live_path_at_start(self, partition: int) -> bool:
        """Whether the live path has neither handled nor fetched a record of the partition: it will begin at the
        partition's first record, where every board goes live with nothing to fill."""
        if self.live_position is None or partition in self.processed:
            return False
        return await self.live_position(partition) in (None, 0)

    def _live_from_start(self, partition: int) -> None:
        """The live path is at the partition's first record: nothing precedes it, so every pending board the fill
        has not started applying is live from offset 0 (a new deployment with a boards file, or a board added
        before any event: no fill, no hand-over). A board the fill already took records for stays with the fill."""
        for board in self.pending(partition):
            stored = Marker.from_json(self.ingestor.store.get(partition, FILL + board.name))
            # never stored, or a fill of this very definition that has applied nothing yet (it stripped the board
            # first); an earlier definition's marker means users may hold its keys: stripped and filled instead
            if stored is None or (stored.fingerprint == board.fingerprint and stored.at == 0):
                self._mark(partition, board, Marker(board.fingerprint, 0, 0), 0)
                log.info("boards: %s is live in partition %d from its first record (nothing to fill)",
                         board.name, partition)

    def _load(self, partition: int) -> None:
        store = self.ingestor.store
        markers = {}
        for board in self.boards:
            marker = Marker.from_json(store.get(partition, FILL + board.name))
            if marker is None and board.name == GLOBAL and board.fingerprint == DEFAULT_GLOBAL:
                marker = Marker(board.fingerprint, 0, 0)  # a deployment from before boards were data: adopted
            if marker is not None and marker.fingerprint != board.fingerprint:
                marker = None  # a changed definition: filled again
            if marker is not None:
                markers[board.name] = marker
        self.markers[partition] = markers
        self._refresh(partition)
        self.loaded_in[partition] = self.generation()

    def _refresh(self, partition: int) -> None:
        markers = self.markers[partition]
        lives = [m.live for b in self.boards if (m := markers.get(b.name)) is not None]
        known = [live for live in lives if live is not None]
        self.all_live_from[partition] = max(known, default=0) if len(known) == len(self.boards) else None

    def counted(self, partition: int, offset: int, board: Board, state: UserState) -> bool:
        """Whether the event at ``offset`` is on ``board`` for this user now: applied by the live path (the board
        live there from before it), or already by the fill (the user's fill offset has passed it). A revert takes
        an event off those boards only: a fill that has not reached it yet skips it, as it is marked reverted."""
        if self.loaded_in.get(partition) != self.generation():
            self._load(partition)
        marker = self.markers[partition].get(board.name)
        if marker is not None and marker.live is not None and offset >= marker.live:
            return True
        return state.fill.get(board.name, -1) >= offset

    def pending(self, partition: int) -> list[Board]:
        if self.loaded_in.get(partition) != self.generation():
            self._load(partition)
        markers = self.markers[partition]
        return [b for b in self.boards if (m := markers.get(b.name)) is None or m.live is None]

    # -- the fill (a timer: chunks under the apply lock, a time budget per tick) --
    async def tick(self, owned: list[int], budget_s: float = 0.3, still: Callable[[], bool] = lambda: True,
                   ) -> None:
        """Announce live boards, then fill the pending boards of the owned partitions for up to ``budget_s`` (less
        than the timer's interval), a chunk at a time, while ``still()`` (no rebalance began)."""
        deadline = time.monotonic() + budget_s
        await self._announce(owned)
        work = [(p, b) for p in sorted(owned) for b in self.pending(p)]
        if not work:
            if self.consumer is not None:
                consumer, self.consumer = self.consumer, None
                await consumer.stop()
            return
        at_start: dict[int, bool] = {}
        for partition, board in work:
            # asked once per partition and only for a board with no marker (the only case it decides), outside the
            # apply lock (it may wait for the live consumer's position); a live path that fetches meanwhile only
            # makes this tick wait once more
            if partition not in at_start and board.name not in self.markers[partition]:
                at_start[partition] = await self._live_path_at_start(partition)
            while time.monotonic() < deadline and still():
                async with self.ingestor.lock:
                    if self.loaded_in.get(partition) != self.generation():
                        self._load(partition)
                    done = await self._chunk(partition, board, at_start.get(partition, False))
                if done:
                    break

    async def _announce(self, owned: list[int]) -> None:
        """Every live board of a partition newly owned goes to ``board-status`` once per assignment (the adopted
        ``global`` board's marker is written then too), so readers see every board live, not only filled ones."""
        if self.announced_in != self.generation():
            self.announced_in, self.announced = self.generation(), set()
        added = False
        async with self.ingestor.lock:
            for partition in owned:
                if partition in self.announced:
                    continue
                if self.loaded_in.get(partition) != self.generation():
                    self._load(partition)
                for board in self.boards:
                    marker = self.markers[partition].get(board.name)
                    if marker is not None and marker.live is not None:
                        self._mark(partition, board, marker, marker.at)
                        added = True
                self.announced.add(partition)
            if added:
                await self.ingestor.batches.send()

    async def _chunk(self, partition: int, board: Board, at_start: bool = False) -> bool:
        """Apply one chunk of the partition to ``board``; True once the board is live there (or, with no marker
        while the live path is ``at_start``, left for it to make live from offset 0)."""
        from aiokafka import TopicPartition

        marker = self.markers[partition].get(board.name)
        if marker is not None and marker.live is not None:
            return True  # made live since the tick listed it: by the live path at offset 0, between two chunks
        store = self.ingestor.store
        topic = self.ingestor.topics.score_events.get_topic_name()
        tp = TopicPartition(topic, partition)
        if self.consumer is None:
            self.consumer = await self.consumer_factory()
        if tp not in self.consumer.assignment():
            self.consumer.assign([tp])
        end = (await self.consumer.end_offsets([tp]))[tp]
        if marker is None and end > 0 and at_start:
            return True  # not now: the live path will make it live from offset 0 (see _live_from_start)
        if marker is None:
            self._strip(partition, board)
            marker = Marker(board.fingerprint)
            self._mark(partition, board, marker, end)
            await self.ingestor.batches.send()
            log.info("boards: filling %s in partition %d from the audit log (%d records)", board.name, partition,
                     end)
        if marker.at >= end and marker.at >= self.processed.get(partition, 0):
            live = Marker(board.fingerprint, marker.at, marker.at)
            self._mark(partition, board, live, end)
            await self.ingestor.batches.send()
            log.info("boards: %s is live in partition %d from offset %d", board.name, partition, marker.at)
            return True
        if await self.consumer.position(tp) != marker.at:
            self.consumer.seek(tp, marker.at)
        fetched = await self.consumer.getmany(tp, timeout_ms=1000, max_records=CHUNK)
        records = [r for r in fetched.get(tp, []) if r.offset >= marker.at]
        if not records:  # past the last record, only transaction markers (or aborted records) may be left
            position = await self.consumer.position(tp)
            if position > marker.at:
                self._mark(partition, board, Marker(board.fingerprint, min(position, end)), end)
                await self.ingestor.batches.send()
            return False
        users: Pending = {}
        partitions = await self.ingestor.batches.partition_count(topic)
        for record in records:
            try:
                self._apply(FillRecord(record), board, partitions, users)
            except Exception:  # one record never stops the fill: the live path dead-lettered or applied it
                log.exception("boards: fill of %s skipped %s[%d]@%d", board.name, topic, partition, record.offset)
        writes = [(USER + user_id, state.to_json()) for (_, user_id), (state, _) in users.items()]
        store.write(partition, writes)
        self._mark(partition, board, Marker(board.fingerprint, records[-1].offset + 1), end)
        await add_standings(self.ingestor.batches, self.ingestor.topics.standings, topic, users)
        await self.ingestor.batches.send()
        self.changes.extend(UserChange(p, u, s, frozenset(b)) for (p, u), (s, b) in users.items() if b)
        return False

    def _apply(self, message: FillRecord, board: Board, partitions: int, users: Pending) -> None:
        checked = self.ingestor.rules.check(message, partitions)
        if not isinstance(checked, Accepted):
            return  # a dead letter of the live path
        scored = [(b, x) for b, x in checked.counting if b is board]
        if not scored or not self._was_applied(message, checked):
            return
        ev, partition = checked.event, message.partition
        pending = users.get((partition, ev.user_id))
        state = pending.state if pending else UserState.from_json(self.ingestor.store.get(partition,
                                                                                           USER + ev.user_id))
        if message.offset <= state.fill.get(board.name, -1):
            return  # applied before a restart
        now = datetime.fromtimestamp(checked.now_ms / 1000, UTC)
        try:
            new, changed = apply_event(state, counting=scored, boards=self.boards, offset=state.offset,
                                       at_ms=checked.at_ms, username=None, now=now, retention=self.ingestor.retention)
        except ScoreOutOfRange:
            return  # refused on this board as it would have been live
        new = new._replace(username=state.username, fill={**state.fill, board.name: message.offset})
        keys = pending.boards if pending else set()
        keys.update(changed)
        users[(partition, ev.user_id)] = PendingUser(new, keys)

    def _was_applied(self, message: FillRecord, checked: Accepted) -> bool:
        """Whether the live path applied this record (not a duplicate of an event id, not reverted since)."""
        ev = checked.event
        event_id = ev.event_id or f"{message.topic}:{message.partition}:{message.offset}"
        key = event_key(ev.user_id, event_id)
        record = EventRecord.from_json(self.ingestor.store.get(message.partition, key))
        if record is not None and record.offset == message.offset:
            return record.reverted_by is None
        if record is not None and record.offset < message.offset:
            return False  # the id's last application came before this record: a duplicate
        ttl = self.ingestor.ttl_ms
        last = self.seen.get(key)
        if ev.event_id is not None and last is not None and checked.now_ms - last < ttl:
            return False
        self.seen[key] = checked.now_ms
        self.seen.move_to_end(key)
        while self.seen and checked.now_ms - next(iter(self.seen.values())) >= ttl:
            self.seen.popitem(last=False)
        return True

    def _strip(self, partition: int, board: Board) -> None:
        """Remove the board's keys (and fill offsets) from every user of the partition: a fill starts empty."""
        writes = []
        for key, raw in partition_items(self.ingestor.store.table, partition, USER):
            state = UserState.from_json(raw)
            kept = {k: v for k, v in state.boards.items() if not owns_key(board, k)}
            if len(kept) != len(state.boards) or board.name in state.fill:
                fill = {b: o for b, o in state.fill.items() if b != board.name}
                writes.append((key, state._replace(boards=kept, fill=fill).to_json()))
                self.changes.append(UserChange(partition, key[len(USER):], state._replace(boards=kept),
                                               frozenset(k for k in state.boards if owns_key(board, k))))
        self.ingestor.store.write(partition, writes)

    def _mark(self, partition: int, board: Board, marker: Marker, end: int) -> None:
        self.ingestor.store.write(partition, [(FILL + board.name, marker.to_json())])
        self.markers[partition][board.name] = marker
        self._refresh(partition)
        self.ingestor.batches.add(self.status_topic, 0, f"{board.name}|{partition}".encode(), orjson.dumps({
            "board": board.name, "partition": partition, "fingerprint": board.fingerprint,
            "live": marker.live is not None, "at": marker.at, "end": max(end, marker.at)}))

    def take_changes(self) -> list[UserChange]:
        """The users the fill changed since the last call (stage 1 indexes them)."""
        changes, self.changes = self.changes, []
        return changes


async def fill_consumer(options: dict[str, Any]) -> Any:
    """The fill's group-less consumer: committed records only, like the live path (an aborted transaction's
    records count nowhere; its end is the last stable offset, so an open transaction is waited for)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed", max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    return consumer

