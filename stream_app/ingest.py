"""Apply a batch of ``score-events`` records to the ``state`` table, exactly once per event.

Per batch (one fetch, handed over by :mod:`stream_app.consumer`): validate each record (bad ones become dead
letters), decide with ``scoring.decide`` whether it is new, a replay or a client retry, aggregate the new user
states in memory, then write each partition's event records in decision order and each changed user once after
them — one RocksDB write batch and one run of changelog records per partition, in the partition that owns the
user's events. One ``score-applied`` record answers each event (a retry repeats the first answer). Everything is
handed to the producer before the batch is acknowledged, and Faust flushes the producer before it commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from schemas.catalog import ActionCatalog
from schemas.events import ScoreEvent
from stream_app.dlq import send_dead_letter
from stream_app.outbox import Outbox
from stream_app.scoring import Decision, EventRecord, UserState, apply_event, decide
from stream_app.settings import WorkerSettings
from stream_app.tables import EVENT, USER, PartitionStore, expired_event_keys
from stream_app.topics import WorkerTopics

log = logging.getLogger(__name__)


class UserChange(NamedTuple):
    """A user whose boards changed in a batch (what the top-K stage needs)."""

    partition: int
    user_id: str
    state: UserState
    boards: frozenset[str]


ChangeSink = Callable[[list[UserChange]], Awaitable[None]]


def _problem(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())[:500]


def parse_record(key: bytes | None, value: bytes | None, catalog: ActionCatalog) -> tuple[ScoreEvent, int] | str:
    """The event and its points, or the reason it cannot be applied."""
    if value is None:
        return "empty value (tombstone)"
    try:
        event = ScoreEvent.model_validate_json(value)  # one pass over the bytes: the hot path
    except ValidationError:
        return _reason(value)
    if key != event.user_id.encode():
        return "record key must be the user_id (it decides the partition that owns the user)"
    points = catalog.points(event.action_id)
    if points is None:
        return f"unknown action_id {event.action_id!r}"
    return event, points


def _reason(value: bytes) -> str:
    """Why ``value`` is not a valid event, in words a producer can act on (the slow path, bad records only)."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "value is not JSON"
    if not isinstance(raw, dict):
        return "value is not a JSON object"
    try:
        ScoreEvent.model_validate(raw)
    except ValidationError as exc:
        return f"invalid event: {_problem(exc)}"
    return "value is not valid JSON for an event"  # accepted by orjson but not by pydantic's stricter parser


Pending = dict[tuple[int, str], tuple[UserState, Any, set[str]]]  # (partition, user) -> state, last message, boards


class Ingestor:
    """Holds the store, outbox, topics and catalog; ``process`` applies one batch of Faust messages."""

    def __init__(self, store: PartitionStore, outbox: Outbox, topics: WorkerTopics, catalog: ActionCatalog,
                 settings: WorkerSettings, on_changes: ChangeSink | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.topics = topics
        self.catalog = catalog
        self.ttl_ms = settings.idempotency_ttl_s * 1000
        self.retention = settings.period_retention
        self.on_changes = on_changes
        self.sweep_every_s = settings.idempotency_sweep_s
        self.last_sweep: dict[int, float] = {}
        self.applied = self.duplicates = self.replays = self.dead_letters = 0

    async def process(self, messages: list[Any]) -> None:
        users: Pending = {}
        records: dict[tuple[int, str], EventRecord] = {}
        writes: dict[int, list[tuple[str, Any]]] = {}  # per partition: e-records first, in decision order
        replies: list[tuple[Any, bytes]] = []
        for message in messages:
            parsed = parse_record(message.key, message.value, self.catalog)
            if isinstance(parsed, str):
                self.dead_letters += 1
                await send_dead_letter(self.topics.dlq, message, parsed)
                continue
            score_event, points = parsed
            reply = self._decide_one(message, score_event, points, users, records, writes)
            if reply is not None:
                replies.append((message, reply))
        changes: list[UserChange] = []
        for (partition, user_id), (state, _, boards) in users.items():
            writes.setdefault(partition, []).append((USER + user_id, state.to_json()))  # after its e-records
            if boards:
                changes.append(UserChange(partition, user_id, state, frozenset(boards)))
        for partition, items in writes.items():
            self.store.write(partition, items)
        await self._add_replies(replies)
        await self.outbox.send()
        if changes and self.on_changes is not None:
            await self.on_changes(changes)
        await self.sweep_due({m.partition: m for m in messages})

    async def _add_replies(self, replies: list[tuple[Any, bytes]]) -> None:
        """``score-applied`` records, keyed by user: in the partition of the source record when both topics have
        as many partitions (the producer's partitioner put it there by the same key), else by the partitioner."""
        if not replies:
            return
        topic = self.topics.applied.name
        count = await self.outbox.partition_count(topic)
        same = count == await self.outbox.partition_count(replies[0][0].topic)
        for message, value in replies:
            key = message.key
            partition = message.partition if same else self.outbox.partition_for(key, count)
            self.outbox.add(topic, partition, key, value)

    async def sweep_due(self, last_message_by_partition: dict[int, Any]) -> None:
        """Forget event ids whose idempotency window is over (storage hygiene: lookups already ignore them)."""
        clock = time.monotonic()
        for partition, message in last_message_by_partition.items():
            if clock - self.last_sweep.setdefault(partition, clock) < self.sweep_every_s:
                continue
            self.last_sweep[partition] = clock
            now_ms = int(message.timestamp * 1000)
            keys = expired_event_keys(self.store.table, partition, now_ms, self.ttl_ms)
            self.store.write(partition, [(key, None) for key in keys])
            await self.outbox.send()
            if keys:
                log.info("forgot %d expired event ids in partition %d", len(keys), partition)

    def _decide_one(self, message: Any, ev: ScoreEvent, points: int, users: Pending,
                    records: dict[tuple[int, str], EventRecord], writes: dict[int, list[tuple[str, Any]]],
                    ) -> bytes | None:
        partition = message.partition
        now_ms = int(message.timestamp * 1000)
        pending = users.get((partition, ev.user_id))
        state = pending[0] if pending else UserState.from_json(self.store.get(partition, USER + ev.user_id))
        boards = pending[2] if pending else set()
        event_id = ev.event_id or f"{message.topic}:{partition}:{message.offset}"
        record = None
        if ev.event_id is not None:
            record = records.get((partition, event_id)) or EventRecord.from_json(
                self.store.get(partition, EVENT + event_id))
        decision = decide(state, record, message.offset, now_ms, self.ttl_ms)
        if decision is Decision.REPLAY:
            # Already applied before a crash; write the state again so the changelog surely holds it.
            self.replays += 1
            users[(partition, ev.user_id)] = (state, message, boards)
            if record is None:
                return None
            if record.offset == message.offset:
                writes.setdefault(partition, []).append((EVENT + event_id, record.to_json()))
            return self._reply(event_id, ev, record, message)  # the first answer, as before the crash
        if decision is Decision.DUPLICATE and record is not None:
            self.duplicates += 1
            return self._reply(event_id, ev, record, message)
        now = datetime.fromtimestamp(message.timestamp, UTC)
        state, changed = apply_event(state, points=points, offset=message.offset,
                                     occurred_at=ev.occurred_at or now, username=ev.username,
                                     now=now, retention=self.retention)
        boards.update(changed)
        users[(partition, ev.user_id)] = (state, message, boards)
        record = EventRecord(message.offset, state.score(), points, now_ms)
        if ev.event_id is not None:
            records[(partition, event_id)] = record
            writes.setdefault(partition, []).append((EVENT + event_id, record.to_json()))  # before the user's state
        self.applied += 1
        return self._reply(event_id, ev, record, message)

    @staticmethod
    def _reply(event_id: str, ev: ScoreEvent, record: EventRecord, message: Any) -> bytes:
        """A ``score-applied`` value (:class:`schemas.events.ScoreApplied`), encoded without building the model."""
        return orjson.dumps({
            "event_id": event_id, "user_id": ev.user_id, "action_id": ev.action_id, "points": record.points,
            "new_score": record.new_score, "applied_at": datetime.fromtimestamp(message.timestamp, UTC),
        })
