"""What a ``score-events`` record must be before the worker applies it: every rule that makes a dead letter.

Direct producers skip the write API, so the worker checks everything again. The rules are a function of the
record alone (its bytes, key, partition and broker timestamp) and the settings — never the wall clock or the
worker's history — so a record replayed after a crash is decided exactly as the first time. Rules that depend on
the user's state (a total leaving the signed 64-bit range, an event id reused for another action) are decided in
:mod:`stream_app.ingest`, from the state, which is just as deterministic.

- The value is a valid event (``schemas.events.ScoreEvent``), the key is its ``user_id``, the action is in the
  catalog, and it carries a ``value`` exactly when the action is a value action, within the action's range.
- The record sits in the partition Java's default partitioner (murmur2 of the key) gives its key: one partition
  owns each user, and a record elsewhere would split the user's total (librdkafka-based clients such as kcat and
  confluent-kafka default to CRC32). It is dead-lettered with a reason naming the fix, never counted there.
- "Now" is the record's timestamp, which must be the broker's (``message.timestamp.type=LogAppendTime`` on
  ``score-events``, set by ``scoreboard-topics``): a producer's clock must not move the idempotency window or
  period expiry.
- ``occurred_at`` (default: the record's timestamp) is plausible — not before 2000, not more than the grace
  (``SCOREBOARD_PERIOD_GRACE_S``) ahead of the broker's clock, which also keeps every date the period arithmetic
  sees far inside what ``datetime`` can hold — and its periods are still open: a period is **sealed** at its end
  plus the grace, so a final stays final; an event is refused when the first of its periods to end (on the
  boards it counts on, each in its zone: the day, else the week, else the month) is sealed — it then counts
  nowhere. Nor may it be before the oldest period still kept (``SCOREBOARD_PERIOD_RETENTION_DAYS``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from schemas.boards import Board, Boards
from schemas.catalog import ActionCatalog
from schemas.events import ScoreEvent
from stream_app.record_batches import RecordBatches

YEAR_2000_MS = 946_684_800_000
LOG_APPEND_TIME = 1  # Kafka's timestamp type of a record stamped by the broker
DAY_MS = 86_400_000
KEY_CACHE = 100_000


class Refusal(NamedTuple):
    """Why a record is a dead letter, and its event id when it had a readable one (the write API answers by it)."""

    reason: str
    event_id: str | None = None


class Accepted:
    """A record that passed the rules: the event, its catalog points (0 for a value action), the broker's time,
    when it occurred (ms), and the boards it counts on with what it scores on each (points, or the value)."""

    __slots__ = ("event", "points", "now_ms", "at_ms", "counting")

    def __init__(self, event: ScoreEvent, points: int, now_ms: int, at_ms: int,
                 counting: tuple[tuple[Board, int], ...] = ()) -> None:
        self.event, self.points, self.now_ms, self.at_ms = event, points, now_ms, at_ms
        self.counting = counting


def _problem(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())[:500]


def invalid_reason(value: bytes) -> str:
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


def _when(event: ScoreEvent, at_ms: int) -> str:
    """The event time as a refusal names it (worked out only for a refusal)."""
    return event.occurred_at.isoformat() if event.occurred_at else str(at_ms)


class RecordRules:
    def __init__(self, catalog: ActionCatalog, retention_ms: int, grace_ms: int, boards: Boards | None = None) -> None:
        self.catalog = catalog
        self.boards = boards if boards is not None else Boards.default(catalog)
        self._counting: dict[str, tuple[tuple[Board, int], ...]] = {}
        self.retention_ms = retention_ms
        self.grace_ms = grace_ms
        self._partition_of: dict[tuple[bytes, int], int] = {}

    def owner(self, key: bytes, partitions: int) -> int:
        """The partition Java's default partitioner picks for ``key`` (remembered: murmur2 is pure Python)."""
        found = self._partition_of.get((key, partitions))
        if found is None:
            if len(self._partition_of) >= KEY_CACHE:
                self._partition_of.clear()
            found = self._partition_of[(key, partitions)] = RecordBatches.partition_for(key, partitions)
        return found

    def check(self, message: Any, partitions: int) -> Accepted | Refusal:
        """The accepted record, or why it is a dead letter."""
        value = message.value
        if value is None:
            return Refusal("empty value (tombstone)")
        try:
            event = ScoreEvent.model_validate_json(value)  # one pass over the bytes: the hot path
        except ValidationError:
            return Refusal(invalid_reason(value))
        refused = self._refusal(message, event, partitions)
        if isinstance(refused, str):
            return Refusal(refused, event.event_id)
        return refused

    def _refusal(self, message: Any, event: ScoreEvent, partitions: int) -> Accepted | str:
        key = message.key
        if key != event.user_id.encode():
            return "record key must be the user_id (it decides the partition that owns the user)"
        owner = self.owner(key, partitions)
        if owner != message.partition:
            return (f"record is in partition {message.partition}, but Java's default partitioner (murmur2 of the "
                    f"key) puts this user in partition {owner} of {partitions}, which owns the user's total: "
                    "produce with the murmur2 partitioner (librdkafka, kcat, confluent-kafka: "
                    "partitioner=murmur2_random)")
        points = self.catalog.points(event.action_id)
        if points is None:
            value_range = self.catalog.value_range(event.action_id)
            if value_range is None:
                return f"unknown action_id {event.action_id!r}"
            if event.value is None:
                return f"action {event.action_id!r} is a value action: the event must carry a value"
            problem = value_range.problem(event.value)
            if problem:
                return problem
            points = 0
            counting = tuple((board, event.value) for board in self.boards.counting(event.action_id))
        elif event.value is not None:
            return f"action {event.action_id!r} has catalog points: a value is not allowed"
        else:
            counting = self._counting.get(event.action_id) or self._points_counting(event.action_id, points)
        if message.timestamp_type != LOG_APPEND_TIME:
            return ("record timestamp was set by the producer: score-events must have "
                    "message.timestamp.type=LogAppendTime (scoreboard-topics sets it)")
        now_ms = int(message.timestamp * 1000)
        at_ms = now_ms if event.occurred_at is None else int(event.occurred_at.timestamp() * 1000)
        if at_ms < YEAR_2000_MS:
            return f"occurred_at {_when(event, at_ms)} is before 2000: not a plausible event time"
        if at_ms > now_ms + self.grace_ms:
            return (f"occurred_at {_when(event, at_ms)} is more than {self.grace_ms // 1000} s after the broker's "
                    "time of the record (SCOREBOARD_PERIOD_GRACE_S)")
        first: tuple[int, str] | None = None
        for board, _ in counting:
            end = board.first_end(at_ms)
            if end is not None and (first is None or end < first):
                first = end
        if first is not None:
            end_ms, key = first
            if end_ms + self.retention_ms <= now_ms:
                return (f"occurred_at {_when(event, at_ms)} is before the oldest period still kept "
                        f"(SCOREBOARD_PERIOD_RETENTION_DAYS={self.retention_ms // DAY_MS})")
            if end_ms + self.grace_ms <= now_ms:
                return (f"period closed: occurred_at {_when(event, at_ms)} is in {key}, sealed at its end plus the "
                        f"grace (SCOREBOARD_PERIOD_GRACE_S={self.grace_ms // 1000}); the event counts nowhere")
        return Accepted(event, points, now_ms, at_ms, counting)

    def _points_counting(self, action_id: str, points: int) -> tuple[tuple[Board, int], ...]:
        """A points action's boards and its points on each (the same for every event of it: kept)."""
        counting = tuple((board, points) for board in self.boards.counting(action_id))
        if len(self._counting) < 100_000:
            self._counting[action_id] = counting
        return counting
