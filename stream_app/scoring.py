"""Pure scoring logic: how one event changes one user's state (totals per board, periods, the 64-bit range).

Whether an event must be applied at all (a replay, a client's retry) is :mod:`stream_app.idempotency`. Nothing
here does I/O, so the rules are unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from schemas.periods import day_period, is_expired, week_period

ALLTIME = "alltime"
SCORE_MIN, SCORE_MAX = -(2**63), 2**63 - 1  # scores are signed 64-bit: what every consumer of the topics can hold


class ScoreOutOfRange(ValueError):
    """Applying the event would take a total outside the signed 64-bit range: the event is refused."""


class UserState(NamedTuple):
    """One user's totals per board (score, and when that score was reached, in ms), the last applied offset of
    ``score-events`` and of ``moderation`` (replays of either are skipped by them), and whether the user is banned
    (hidden from every board; the totals still count, so an unban shows them exactly).

    Immutable value types (NamedTuple: built once or more per event, far cheaper than a frozen dataclass).
    """

    offset: int = -1
    username: str | None = None
    boards: Mapping[str, tuple[int, int]] = MappingProxyType({})
    banned: bool = False
    mod_offset: int = -1

    def score(self, board: str = ALLTIME) -> int:
        return self.boards.get(board, (0, 0))[0]

    def visible_boards(self) -> Mapping[str, tuple[int, int]]:
        """The boards the user is shown on: none while banned."""
        return MappingProxyType({}) if self.banned else self.boards

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"o": self.offset, "n": self.username,
                               "b": {k: [s, t] for k, (s, t) in self.boards.items()}}
        if self.banned:
            raw["x"] = 1
        if self.mod_offset >= 0:
            raw["m"] = self.mod_offset
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> UserState:
        if not raw:
            return cls()
        return cls(int(raw["o"]), raw.get("n"), {k: (int(v[0]), int(v[1])) for k, v in raw["b"].items()},
                   bool(raw.get("x")), int(raw.get("m", -1)))


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
    return UserState(offset, username or state.username, boards, state.banned, state.mod_offset), changed


def revert_points(state: UserState, points: int, occurred_ms: int, mod_offset: int) -> tuple[UserState, list[str]]:
    """Take an applied event's ``points`` off every board of its day the user still holds (expired periods are
    gone); raises ``ScoreOutOfRange`` if a total would leave the 64-bit range. Returns (state, boards changed)."""
    boards = dict(state.boards)
    changed = [b for b in _boards_of_day(occurred_ms // 86_400_000) if b in boards]
    for board in changed:
        score, since = boards[board]
        total = score - points
        if not SCORE_MIN <= total <= SCORE_MAX:
            raise ScoreOutOfRange(f"the total on {board} would be {total}, outside the signed 64-bit range")
        boards[board] = (total, since)
    return state._replace(boards=boards, mod_offset=mod_offset), changed


def boards_of(occurred_ms: int) -> tuple[str, ...]:
    """The board ids an event at ``occurred_ms`` counts on (all-time, its day, its ISO week)."""
    return _boards_of_day(occurred_ms // 86_400_000)
