"""Idempotency in the worker: a score event is applied once, whatever is delivered twice.

Exactly-once is built as at-least-once delivery plus idempotent application, with two kinds of repeats:
- a **replay** (the same record delivered again after a crash, before the consumer commit): each user's state
  carries the source offset of the last event applied to it, written in the same table value as the totals, so an
  offset at or below it is skipped atomically (and the state written again, so the changelog surely holds it);
- a **duplicate** (another record with the same ``event_id`` for the same user, e.g. a client's retry with its
  ``Idempotency-Key``) within ``SCOREBOARD_IDEMPOTENCY_TTL_S``: caught by the event record
  ``e:<user_id>\n<event_id>`` holding the first answer, which is repeated; the same id for the same user with
  another action is refused. The event record is written *before* the user's state in the same changelog
  partition, so whenever the user's state is durable the event record is too.
The event ids of the write API are derived from (API key, user_id, Idempotency-Key) there
(``producer_api``); here an id is scoped by user, so one id for two users is two events.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

import orjson

from stream_app.scoring import UserState
from stream_app.tables import raw_partition_items

EVENT = "e:"
EVENT_KEY_SEP = "\n"  # user ids and event ids cannot hold control characters


def event_key(user_id: str, event_id: str) -> str:
    """The ``e:`` key of an event id: scoped by user, so one id reused for two users is two events."""
    return f"{EVENT}{user_id}{EVENT_KEY_SEP}{event_id}"


class EventRecord(NamedTuple):
    """What the first application of an event id answered (kept for the idempotency window), and for which
    action: a reuse of the id for another action is refused, never answered with the first event's score."""

    offset: int
    new_score: int
    points: int
    at_ms: int
    action_id: str | None = None  # None: written before the action was kept

    def to_json(self) -> list[Any]:
        return [self.offset, self.new_score, self.points, self.at_ms, self.action_id]

    @classmethod
    def from_json(cls, raw: Any) -> EventRecord | None:
        if not raw:
            return None
        action = raw[4] if len(raw) > 4 else None
        return cls(int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), None if action is None else str(action))

    def conflicts_with(self, action_id: str) -> bool:
        """Same event id, another action: a client reused an idempotency key for a different request."""
        return self.action_id is not None and self.action_id != action_id


class Decision(Enum):
    APPLY = "apply"
    REPLAY = "replay"  # this very record was already applied (redelivery after a crash): skip
    DUPLICATE = "duplicate"  # another record with the same event id was applied in the window: answer as before


def decide(state: UserState, record: EventRecord | None, offset: int, now_ms: int, ttl_ms: int) -> Decision:
    if offset <= state.offset:
        return Decision.REPLAY
    if record is not None and record.offset != offset and now_ms - record.at_ms < ttl_ms:
        return Decision.DUPLICATE
    return Decision.APPLY


def expired_event_keys(table: Any, partition: int, now_ms: int, ttl_ms: int) -> list[str]:
    """``e:`` keys of a partition whose idempotency window is over."""
    return [orjson.loads(key) for key, value in raw_partition_items(table, partition, EVENT)
            if now_ms - int(orjson.loads(value)[3]) >= ttl_ms]
