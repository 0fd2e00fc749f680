"""Apply a batch of ``score-events`` records to the ``state`` table, exactly once per event.

Per batch (one fetch, handed over by :mod:`stream_app.faust_internals.batch_consumer`): check each record
(:mod:`stream_app.rules`; what fails becomes a dead letter), decide with ``scoring.decide`` whether it is new, a
replay or a client retry, aggregate the new user states in memory, then write each partition's event records in
decision order and each changed user once after them — one RocksDB write batch and one run of changelog records per
partition, in the partition that owns the user's events. One ``score-applied`` record answers each event (a retry
repeats the first answer), and one ``user-standings`` record carries each changed user's standing, in the same
record batches as the table's changelog (a replay writes both again: the topic is never behind the table).
Everything is handed to the producer before the batch is acknowledged, and Faust flushes the producer before
it commits.

No record can stop the worker: each one is decided on its own, and its effects (new user state, event record,
answer) join the batch only once it is fully decided. A record whose decision raises — an input kind nobody
foresaw, a total leaving the 64-bit range — becomes a dead letter with the reason, and the batch goes on without
it. The decision depends only on the record and the state, so a replay after a crash decides the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from schemas.boards import Board
from schemas.events import ScoreEvent
from stream_app.dlq import DeadLetters
from stream_app.idempotency import Decision, EventRecord, decide, event_key, expired_event_keys, owner_key
from stream_app.record_batches import RecordBatches
from stream_app.rules import Accepted, RecordRules, Refusal
from stream_app.scoring import ScoreOutOfRange, UserState, apply_event
from stream_app.settings import WorkerSettings
from stream_app.tables import USER, PartitionStore
from stream_app.topics import WorkerTopics

log = logging.getLogger(__name__)


class UserChange(NamedTuple):
    """A user whose boards changed in a batch (what the top-K stage needs)."""

    partition: int
    user_id: str
    state: UserState
    boards: frozenset[str]


class PendingUser(NamedTuple):
    """A user's state as the batch has it so far, and the boards the batch changed for them."""

    state: UserState
    boards: set[str]


Pending = dict[tuple[int, str], PendingUser]  # (partition, user_id) -> the user in this batch


def encode_standing(user_id: str, state: UserState) -> bytes:
    """A ``user-standings`` value (:class:`schemas.standings.UserStanding`), encoded without building the model; a
    banned user stands on no board."""
    return orjson.dumps({"user_id": user_id, "username": state.username,
                         "boards": {b: {"score": s, "since": t} for b, (s, t) in state.visible_boards().items()}})


async def add_standings(batches: RecordBatches, topic: str, source_topic: str, users: Pending) -> None:
    """One ``user-standings`` record per user a batch touched (applied or replayed): the user's state as the table
    now holds it, keyed by user, in the source partition when both topics have as many partitions."""
    if not users:
        return
    count = await batches.partition_count(topic)
    same = count == await batches.partition_count(source_topic)
    for (partition, user_id), (state, _) in users.items():
        key = user_id.encode()
        batches.add(topic, partition if same else batches.partition_for(key, count), key,
                    encode_standing(user_id, state))


class BoardGate:
    """Which of an event's boards the live path applies it to: all of them, unless a board is being filled from the
    audit log in that partition (:mod:`stream_app.backfill` replaces this with its own gate)."""

    def live(self, partition: int, offset: int, counting: tuple[tuple[Board, int], ...],
             ) -> tuple[tuple[Board, int], ...]:
        return counting


class Refused(Exception):
    """A valid record the state says cannot be applied (the reason goes to the dead letters)."""


class Outcome(NamedTuple):
    """One record's decision, joined to the batch only once it is complete."""

    state: UserState
    boards: list[str]
    record: EventRecord | None  # the event record to write (None: nothing to write)
    reply: bytes | None
    kind: str  # applied | duplicate | replay


class Ingestor:
    """Holds the store, batches, topics and rules; ``process`` applies one batch of Faust messages."""

    def __init__(self, store: PartitionStore, batches: RecordBatches, topics: WorkerTopics, rules: RecordRules,
                 dead_letters: DeadLetters, settings: WorkerSettings, gate: BoardGate | None = None) -> None:
        self.store = store
        self.batches = batches
        self.topics = topics
        self.rules = rules
        self.dead = dead_letters
        self.gate = gate if gate is not None else BoardGate()
        self.ttl_ms = settings.idempotency_ttl_s * 1000
        self.keep_ms = max(self.ttl_ms, settings.journal_keep_ms)  # event records are the journal too
        self.retention = settings.period_retention
        self.sweep_every_s = settings.idempotency_sweep_s
        self.last_sweep: dict[int, float] = {}
        self.applied = self.duplicates = self.replays = 0
        self.lock = asyncio.Lock()  # a batch of events, of commands, or a chunk of a board's fill: one at a time

    @property
    def dead_letters(self) -> int:
        return self.dead.count

    async def process(self, messages: list[Any]) -> list[UserChange]:
        """Apply one fetch; returns the users whose boards changed (for stage 1 of the boards)."""
        users: Pending = {}
        records: dict[tuple[int, str], EventRecord] = {}
        writes: dict[int, list[tuple[str, Any]]] = {}  # per partition: e-records first, in decision order
        replies: list[tuple[Any, bytes]] = []
        partitions = await self.batches.partition_count(messages[0].topic) if messages else 0
        for message in messages:
            event_id: str | None = None
            try:
                checked = self.rules.check(message, partitions)
                if isinstance(checked, Refusal):
                    event_id = checked.event_id
                    raise Refused(checked.reason)
                event_id = checked.event.event_id
                outcome = self._decide_one(message, checked, users, records)
            except Refused as exc:
                await self.dead.send(message, str(exc), event_id)
                continue
            except Exception as exc:  # an input kind nobody foresaw: never the worker's end, never a silent drop
                log.exception("record %s[%s]@%s could not be applied", message.topic, message.partition,
                              message.offset)
                await self.dead.send(message, f"cannot be applied: {exc!r}"[:500], event_id)
                continue
            self._join(message, checked, outcome, users, records, writes)
            if outcome.reply is not None:
                replies.append((message, outcome.reply))
        changes: list[UserChange] = []
        for (partition, user_id), (state, boards) in users.items():
            writes.setdefault(partition, []).append((USER + user_id, state.to_json()))  # after its e-records
            if boards:
                changes.append(UserChange(partition, user_id, state, frozenset(boards)))
        for partition, items in writes.items():
            self.store.write(partition, items)
        await self._add_replies(replies)
        await add_standings(self.batches, self.topics.standings, self.topics.score_events.get_topic_name(), users)
        await self.batches.send()
        await self.sweep_due({m.partition: m for m in messages})
        return changes

    async def _add_replies(self, replies: list[tuple[Any, bytes]]) -> None:
        """``score-applied`` records, keyed by user: in the partition of the source record when both topics have
        as many partitions (the producer's partitioner put it there by the same key), else by the partitioner."""
        if not replies:
            return
        topic = self.topics.applied.name
        count = await self.batches.partition_count(topic)
        same = count == await self.batches.partition_count(replies[0][0].topic)
        for message, value in replies:
            key = message.key
            partition = message.partition if same else self.batches.partition_for(key, count)
            self.batches.add(topic, partition, key, value)

    async def sweep_due(self, last_message_by_partition: dict[int, Any]) -> None:
        """Forget event ids whose idempotency window is over (storage hygiene: lookups already ignore them)."""
        clock = time.monotonic()
        for partition, message in last_message_by_partition.items():
            if clock - self.last_sweep.setdefault(partition, clock) < self.sweep_every_s:
                continue
            self.last_sweep[partition] = clock
            now_ms = int(message.timestamp * 1000)
            keys = expired_event_keys(self.store.table, partition, now_ms, self.keep_ms)
            self.store.write(partition, [(key, None) for key in keys])
            await self.batches.send()
            if keys:
                log.info("forgot %d expired event ids in partition %d", len(keys), partition)

    def _decide_one(self, message: Any, checked: Accepted, users: Pending,
                    records: dict[tuple[int, str], EventRecord]) -> Outcome:
        """Decide one record without touching the batch (see ``_join``); raises ``Refused`` with a reason."""
        ev, partition = checked.event, message.partition
        pending = users.get((partition, ev.user_id))
        state = pending.state if pending else UserState.from_json(self.store.get(partition, USER + ev.user_id))
        event_id = ev.event_id or f"{message.topic}:{partition}:{message.offset}"
        record = None
        if ev.event_id is not None:
            key = (partition, event_key(ev.user_id, event_id))
            record = records.get(key) or EventRecord.from_json(self.store.get(*key))
        decision = decide(state, record, message.offset, checked.now_ms, self.ttl_ms)
        if decision is Decision.REPLAY:
            # Already applied before a crash; write the state again so the changelog surely holds it.
            if record is None:
                return Outcome(state, [], None, None, "replay")
            again = record if record.offset == message.offset else None
            return Outcome(state, [], again, self._reply(event_id, ev, record, message), "replay")
        if decision is Decision.DUPLICATE and record is not None:
            if record.conflicts_with(ev.action_id, ev.value):
                if record.action_id != ev.action_id:
                    raise Refused(f"idempotency key reused for user {ev.user_id!r} with another action_id "
                                  f"({record.action_id!r} first, now {ev.action_id!r}); use a new Idempotency-Key")
                raise Refused(f"idempotency key reused for user {ev.user_id!r} with another value "
                              f"({record.value!r} first, now {ev.value!r}); use a new Idempotency-Key")
            return Outcome(state, [], None, self._reply(event_id, ev, record, message), "duplicate")
        now = datetime.fromtimestamp(checked.now_ms / 1000, UTC)
        try:
            state, changed = apply_event(state, counting=self.gate.live(partition, message.offset, checked.counting),
                                         boards=self.rules.boards, offset=message.offset, at_ms=checked.at_ms,
                                         username=ev.username, now=now, retention=self.retention)
        except ScoreOutOfRange as exc:
            raise Refused(str(exc)) from None
        record = EventRecord(message.offset, state.score(), checked.points, checked.now_ms, ev.action_id,
                             checked.at_ms, None, ev.value)
        return Outcome(state, changed, record, self._reply(event_id, ev, record, message), "applied")

    def _join(self, message: Any, checked: Accepted, outcome: Outcome, users: Pending,
              records: dict[tuple[int, str], EventRecord], writes: dict[int, list[tuple[str, Any]]]) -> None:
        """Add a decided record's effects to the batch (nothing here can fail on a record's content)."""
        if outcome.kind == "duplicate":  # answered as the first time; the state does not change
            self.duplicates += 1
            return
        ev, partition = checked.event, message.partition
        pending = users.get((partition, ev.user_id))
        boards = pending.boards if pending else set()
        boards.update(outcome.boards)
        users[(partition, ev.user_id)] = PendingUser(outcome.state, boards)
        if outcome.record is not None:
            event_id = ev.event_id or f"{message.topic}:{partition}:{message.offset}"
            key = event_key(ev.user_id, event_id)
            items = writes.setdefault(partition, [])
            if outcome.kind == "applied":
                records[(partition, key)] = outcome.record
                items.append((owner_key(event_id, ev.user_id), 1))  # a revert finds the user by it
            items.append((key, outcome.record.to_json()))  # the journal entry, before the user's state
        if outcome.kind == "applied":
            self.applied += 1
        else:
            self.replays += 1

    @staticmethod
    def _reply(event_id: str, ev: ScoreEvent, record: EventRecord, message: Any) -> bytes:
        """A ``score-applied`` value (:class:`schemas.events.ScoreApplied`), encoded without building the model."""
        return orjson.dumps({
            "event_id": event_id, "user_id": ev.user_id, "action_id": ev.action_id, "points": record.points,
            "new_score": record.new_score, "applied_at": datetime.fromtimestamp(message.timestamp, UTC),
        })
