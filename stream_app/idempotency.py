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
The event ids of the write API are derived from (API key id, user_id, Idempotency-Key) there
(``producer_api``); here an id is scoped by user, so one id for two users is two events.

The event record is also the **journal** moderation needs (``stream_app.moderator``): it is written for every
applied event (an event without an id under its position, ``score-events:<p>:<o>``), holds when the event
occurred and which revert took it back, and is kept for the revert horizon (``SCOREBOARD_REVERT_DAYS``) plus a
week — past the idempotency window it no longer makes repeats duplicates (``decide``), it only answers reverts and
the ledger. ``v:<event_id>\n<user_id>`` finds the user of an event id for a revert (which names no user).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

import orjson

from stream_app.scoring import UserState
from stream_app.tables import raw_partition_items

EVENT = "e:"
OWNER = "v:"
EVENT_KEY_SEP = "\n"  # user ids and event ids cannot hold control characters


def event_key(user_id: str, event_id: str) -> str:
    """The ``e:`` key of an event id: scoped by user, so one id reused for two users is two events."""
    return f"{EVENT}{user_id}{EVENT_KEY_SEP}{event_id}"


def owner_key(event_id: str, user_id: str) -> str:
    """The ``v:`` key saying ``user_id`` has an event ``event_id`` (a revert names the event only)."""
    return f"{OWNER}{event_id}{EVENT_KEY_SEP}{user_id}"


def owner_prefix(event_id: str) -> str:
    return f"{OWNER}{event_id}{EVENT_KEY_SEP}"


class EventRecord(NamedTuple):
    """What the first application of an event id answered (kept for the idempotency window), and for which
    action: a reuse of the id for another action is refused, never answered with the first event's score."""

    offset: int
    new_score: int
    points: int
    at_ms: int  # when it was applied (the broker's time of the record)
    action_id: str | None = None  # None: written before the action was kept
    occurred_ms: int | None = None  # None: written before the journal (then at_ms stands for it)
    reverted_by: str | None = None  # the command_id of the revert that took it back
    value: int | None = None  # a value action's value (what it scored on value boards)

    def to_json(self) -> list[Any]:
        raw: list[Any] = [self.offset, self.new_score, self.points, self.at_ms, self.action_id]
        if self.occurred_ms is not None or self.reverted_by is not None or self.value is not None:
            raw += [self.occurred_ms, self.reverted_by]
        if self.value is not None:
            raw.append(self.value)
        return raw

    @classmethod
    def from_json(cls, raw: Any) -> EventRecord | None:
        if not raw:
            return None
        action = raw[4] if len(raw) > 4 else None
        occurred = raw[5] if len(raw) > 5 else None
        reverted = raw[6] if len(raw) > 6 else None
        value = raw[7] if len(raw) > 7 else None
        return cls(int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), None if action is None else str(action),
                   None if occurred is None else int(occurred), None if reverted is None else str(reverted),
                   None if value is None else int(value))

    @property
    def occurred(self) -> int:
        return self.at_ms if self.occurred_ms is None else self.occurred_ms

    def conflicts_with(self, action_id: str, value: int | None = None) -> bool:
        """Same event id, another action or value: a client reused an idempotency key for a different request."""
        return self.action_id is not None and (self.action_id != action_id or self.value != value)


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


def expired_event_keys(table: Any, partition: int, now_ms: int, keep_ms: int) -> list[str]:
    """``e:`` keys of a partition older than ``keep_ms`` (the longer of the idempotency window and the journal's
    keep), with their ``v:`` keys."""
    keys: list[str] = []
    for raw_key, value in raw_partition_items(table, partition, EVENT):
        if now_ms - int(orjson.loads(value)[3]) >= keep_ms:
            key: str = orjson.loads(raw_key)
            user_id, _, event_id = key[len(EVENT):].partition(EVENT_KEY_SEP)
            keys += [key, owner_key(event_id, user_id)]
    return keys
