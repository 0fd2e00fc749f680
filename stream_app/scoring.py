"""Pure scoring logic: how one event changes one user's state, and whether it must be applied at all.

Exactly-once is built here as at-least-once delivery plus idempotent application:
- each user's state carries the source offset of the last event applied to it, written in the same table
  value as the totals, so a replayed offset (after a crash, before the consumer commit) is skipped atomically;
- client retries (a repeated ``event_id``, e.g. from an ``Idempotency-Key``) are caught by a per-event record
  ``e:<event_id>`` holding the first answer; it is written *before* the user's state in the same changelog
  partition, so whenever the user's state is durable the event record is too.
Nothing here does I/O, so the rules are unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from schemas.periods import day_period, is_expired, week_period

ALLTIME = "alltime"
SCORE_MIN, SCORE_MAX = -(2**63), 2**63 - 1  # scores are signed 64-bit: what every consumer of the topics can hold


class ScoreOutOfRange(ValueError):
    """Applying the event would take a total outside the signed 64-bit range: the event is refused."""


class UserState(NamedTuple):
    """One user's totals per board (score, and when that score was reached, in ms) and last applied offset.

    Immutable value types (NamedTuple: built once or more per event, far cheaper than a frozen dataclass).
    """

    offset: int = -1
    username: str | None = None
    boards: Mapping[str, tuple[int, int]] = MappingProxyType({})

    def score(self, board: str = ALLTIME) -> int:
        return self.boards.get(board, (0, 0))[0]

    def to_json(self) -> dict[str, Any]:
        return {"o": self.offset, "n": self.username, "b": {k: [s, t] for k, (s, t) in self.boards.items()}}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> UserState:
        if not raw:
            return cls()
        return cls(int(raw["o"]), raw.get("n"), {k: (int(v[0]), int(v[1])) for k, v in raw["b"].items()})


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


def boards_for(moment: datetime) -> list[str]:
    return list(_boards_of_day(int(moment.timestamp() * 1000) // 86_400_000))


@lru_cache(maxsize=1024)
def _boards_of_day(utc_day: int) -> tuple[str, ...]:
    """The boards of a UTC day number (cached: every event asks)."""
    moment = datetime.fromtimestamp(utc_day * 86_400, UTC)
    return ALLTIME, f"daily:{day_period(moment)}", f"weekly:{week_period(moment)}"


def live_boards(boards: Iterable[str], now: datetime, retention: timedelta) -> list[str]:
    return [b for b in boards if not is_expired(b, now, retention)]


def apply_event(
    state: UserState, *, points: int, offset: int, occurred_at: datetime, username: str | None,
    now: datetime, retention: timedelta,
) -> tuple[UserState, list[str]]:
    """Add ``points`` to every live board of ``occurred_at``; drop expired periods. Returns (state, boards changed).

    ``now`` is the record's own timestamp, not the wall clock, so a replay decides exactly as the first run did.
    This runs once per event, so the boards of a day and the expiry of a board are cached (see ``_boards_of_day``,
    ``schemas.periods.expires_at``) and old periods are only looked at when the state holds some.
    """
    at_ms = int(occurred_at.timestamp() * 1000)
    current = _boards_of_day(at_ms // 86_400_000)
    changed = [b for b in current if not is_expired(b, now, retention)]
    old = state.boards
    if len(old) <= len(current) and all(b in current for b in old):
        boards = dict(old)  # only this day's boards: they expire no sooner than the ones just checked
        for board in old:
            if board not in changed:
                del boards[board]
    else:
        boards = {b: v for b, v in old.items() if not is_expired(b, now, retention)}
    for board in changed:
        score, since = boards.get(board, (0, at_ms))
        total = score + points
        if not SCORE_MIN <= total <= SCORE_MAX:
            raise ScoreOutOfRange(f"the total on {board} would be {total}, outside the signed 64-bit range "
                                  f"({SCORE_MIN}..{SCORE_MAX}); the event is refused")
        boards[board] = (total, at_ms if points else since)
    return UserState(offset, username or state.username, boards), changed
