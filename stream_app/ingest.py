"""Apply a batch of ``score-events`` records to the ``state`` table, exactly once per event.

Per batch (``stream.take_events``): validate each record (bad ones become dead letters), decide with
``scoring.decide`` whether it is new, a replay or a client retry, aggregate the new user states in memory, then
write each event record as it is decided and each changed user once at the end — all in the event context of
the source record, so every write lands in the changelog partition of the user's events. One ``score-applied``
record answers each event (a retry repeats the first answer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.catalog import ActionCatalog
from schemas.events import ScoreApplied, ScoreEvent
from stream_app.dlq import send_dead_letter
from stream_app.scoring import Decision, EventRecord, UserState, apply_event, decide
from stream_app.settings import WorkerSettings
from stream_app.tables import EVENT, USER, TableWriter, event_context, expired_event_keys
from stream_app.topics import WorkerTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserChange:
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
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "value is not JSON"
    if not isinstance(raw, dict):
        return "value is not a JSON object"
    try:
        event = ScoreEvent.model_validate(raw)
    except ValidationError as exc:
        return f"invalid event: {_problem(exc)}"
    if key != event.user_id.encode():
        return "record key must be the user_id (it decides the partition that owns the user)"
    points = catalog.points(event.action_id)
    if points is None:
        return f"unknown action_id {event.action_id!r}"
    return event, points


class Ingestor:
    """Holds the table, topics and catalog; ``process`` applies one batch of Faust events."""

    def __init__(self, table: Any, writer: TableWriter, topics: WorkerTopics, catalog: ActionCatalog,
                 settings: WorkerSettings, on_changes: ChangeSink | None = None) -> None:
        self.table = table
        self.writer = writer
        self.topics = topics
        self.catalog = catalog
        self.ttl_ms = settings.idempotency_ttl_s * 1000
        self.retention = settings.period_retention
        self.on_changes = on_changes
        self.sweep_every_s = settings.idempotency_sweep_s
        self.last_sweep: dict[int, float] = {}
        self.applied = self.duplicates = self.replays = self.dead_letters = 0

    async def process(self, events: list[Any]) -> None:
        users: dict[str, tuple[UserState, Any, set[str]]] = {}
        records: dict[str, EventRecord] = {}
        replies: list[ScoreApplied] = []
        writes: list[tuple[str, Any, Any]] = []  # (key, value, event): e-records first, in decision order
        for event in events:
            message = event.message
            parsed = parse_record(message.key, message.value, self.catalog)
            if isinstance(parsed, str):
                self.dead_letters += 1
                await send_dead_letter(self.topics.dlq, message, parsed)
                continue
            score_event, points = parsed
            with event_context(event):  # reads and writes go to the partition that owns this user
                reply = self._decide_one(event, score_event, points, users, records, writes)
            if reply is not None:
                replies.append(reply)
        changes: list[UserChange] = []
        for user_id, (state, last_event, boards) in users.items():
            writes.append((USER + user_id, state.to_json(), last_event))  # after its e-records: see scoring
            if boards:
                changes.append(UserChange(last_event.message.partition, user_id, state, frozenset(boards)))
        for key, value, owner in writes:
            with event_context(owner):
                await self.writer.put(key, value, owner.message.partition)
        for reply in replies:
            await self.topics.applied.send(key=reply.user_id.encode(), value=orjson.dumps(reply.model_dump()))
        if changes and self.on_changes is not None:
            await self.on_changes(changes)
        await self.sweep_due({e.message.partition: e for e in events})

    async def sweep_due(self, last_event_by_partition: dict[int, Any]) -> None:
        """Forget event ids whose idempotency window is over (storage hygiene: lookups already ignore them)."""
        clock = time.monotonic()
        for partition, event in last_event_by_partition.items():
            if clock - self.last_sweep.setdefault(partition, clock) < self.sweep_every_s:
                continue
            self.last_sweep[partition] = clock
            now_ms = int(event.message.timestamp * 1000)
            with event_context(event):
                keys = expired_event_keys(self.table, partition, now_ms, self.ttl_ms)
                for key in keys:
                    await self.writer.delete(key, partition)
            if keys:
                log.info("forgot %d expired event ids in partition %d", len(keys), partition)

    def _decide_one(self, event: Any, ev: ScoreEvent, points: int,
                    users: dict[str, tuple[UserState, Any, set[str]]],
                    records: dict[str, EventRecord], writes: list[tuple[str, Any, Any]]) -> ScoreApplied | None:
        message = event.message
        now = datetime.fromtimestamp(message.timestamp, UTC)
        now_ms = int(message.timestamp * 1000)
        pending = users.get(ev.user_id)
        state = pending[0] if pending else UserState.from_json(self.table.get(USER + ev.user_id))
        boards = pending[2] if pending else set()
        event_id = ev.event_id or f"{message.topic}:{message.partition}:{message.offset}"
        record = None
        if ev.event_id is not None:
            record = records.get(event_id) or EventRecord.from_json(self.table.get(EVENT + event_id))
        decision = decide(state, record, message.offset, now_ms, self.ttl_ms)
        if decision is Decision.REPLAY:
            # Already applied before a crash; write the state again so the changelog surely holds it.
            self.replays += 1
            users[ev.user_id] = (state, event, boards)
            if record is None:
                return None
            if record.offset == message.offset:
                writes.append((EVENT + event_id, record.to_json(), event))
            return self._reply(event_id, ev, record, now)  # the first answer, as before the crash
        if decision is Decision.DUPLICATE and record is not None:
            self.duplicates += 1
            return self._reply(event_id, ev, record, now)
        state, changed = apply_event(state, points=points, offset=message.offset,
                                     occurred_at=ev.occurred_at or now, username=ev.username,
                                     now=now, retention=self.retention)
        boards.update(changed)
        users[ev.user_id] = (state, event, boards)
        record = EventRecord(message.offset, state.score(), points, now_ms)
        if ev.event_id is not None:
            records[event_id] = record
            writes.append((EVENT + event_id, record.to_json(), event))  # before the user's state: see scoring
        self.applied += 1
        return self._reply(event_id, ev, record, now)

    @staticmethod
    def _reply(event_id: str, ev: ScoreEvent, record: EventRecord, now: datetime) -> ScoreApplied:
        return ScoreApplied(event_id=event_id, user_id=ev.user_id, action_id=ev.action_id,
                            points=record.points, new_score=record.new_score, applied_at=now)
