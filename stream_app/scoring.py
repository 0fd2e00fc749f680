"""Pure scoring logic: how one event changes one user's state (a score per board key, each board's aggregation,
periods, the 64-bit range).

Whether an event must be applied at all (a replay, a client's retry) is :mod:`stream_app.idempotency`. Nothing
here does I/O, so the rules are unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from schemas.boards import Aggregation, Board, Boards

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
    fill: Mapping[str, int] = MappingProxyType({})  # board -> last source offset its fill applied (stream_app.backfill)

    def score(self, board: str = ALLTIME) -> int:
        return self.boards.get(board, (0, 0))[0]

    def visible_boards(self) -> Mapping[str, tuple[int, int]]:
        """The boards the user is shown on: none while banned."""
        return MappingProxyType({}) if self.banned else self.boards

    def to_json(self) -> dict[str, Any]:
        # the (score, since) tuples as they are: orjson writes a tuple as a JSON array, the stored bytes unchanged
        raw: dict[str, Any] = {"o": self.offset, "n": self.username, "b": dict(self.boards)}
        if self.banned:
            raw["x"] = 1
        if self.mod_offset >= 0:
            raw["m"] = self.mod_offset
        if self.fill:
            raw["f"] = dict(self.fill)
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> UserState:
        if not raw:
            return cls()
        fill = raw.get("f")
        return cls(int(raw["o"]), raw.get("n"), {k: (v[0], v[1]) for k, v in raw["b"].items()},
                   bool(raw.get("x")), int(raw.get("m", -1)),
                   MappingProxyType({}) if not fill else {str(k): int(v) for k, v in fill.items()})


def combine(aggregation: Aggregation, old: tuple[int, int] | None, x: int, at_ms: int) -> tuple[int, int] | None:
    """A board's new (score, since) after an event scoring ``x`` at ``at_ms``, or None when it does not change.

    ``sum`` adds (since = when the total last changed); ``max``/``min`` keep the best, and ``latest`` the last
    value. A tie keeps who reached the score first: for ``max``/``min`` the earliest event reaching it, whichever
    order events are applied in (so a board filled from the audit log later equals one that saw them live)."""
    if old is None:
        return x, at_ms
    score, since = old
    if aggregation == "sum":
        total = score + x
        if not SCORE_MIN <= total <= SCORE_MAX:
            raise ScoreOutOfRange(f"the total would be {total}, outside the signed 64-bit range "
                                  f"({SCORE_MIN}..{SCORE_MAX}); the event is refused")
        return total, at_ms if x else since
    if aggregation == "latest":
        return None if x == score else (x, at_ms)
    better = x > score if aggregation == "max" else x < score
    if better or (x == score and at_ms < since):
        return x, at_ms
    return None


def apply_event(
    state: UserState, *, counting: Sequence[tuple[Board, int]], boards: Boards, offset: int, at_ms: int,
    username: str | None, now: datetime, retention: timedelta,
) -> tuple[UserState, list[str]]:
    """Apply an event scoring ``x`` on each of its boards (``counting``: (board, x) — the catalog points, or the
    event's value on value boards) to every live period of ``at_ms``; drop expired periods. Returns (state, keys
    changed).

    ``now`` is the record's own timestamp, not the wall clock, so a replay decides exactly as the first run did.
    Expiry is cached per key (``Boards.expires_at``) and keys per quarter hour (``Board.keys_at``); old periods are
    looked at only when the state holds keys this event does not count on.
    """
    current: list[tuple[Board, int, str]] = [(b, x, key) for b, x in counting for key in b.keys_at(at_ms)
                                             if not boards.is_expired(key, now, retention)]
    old = state.boards
    held = {key for _, _, key in current}
    if all(key in held for key in old):
        new = dict(old)
    else:
        new = {k: v for k, v in old.items() if k in held or not boards.gone(k, now, retention)}
    changed: list[str] = []
    for board, x, key in current:
        try:
            value = combine(board.aggregation, new.get(key), x, at_ms)
        except ScoreOutOfRange as exc:
            raise ScoreOutOfRange(f"on {key}: {exc}") from None
        if value is not None:
            new[key] = value
        if value is not None or board.aggregation == "sum":
            changed.append(key)
    return UserState(offset, username or state.username, new, state.banned, state.mod_offset, state.fill), changed


def revert_sum(state: UserState, counting: Sequence[tuple[Board, int]], occurred_ms: int, mod_offset: int,
               ) -> tuple[UserState, list[str]]:
    """Take an applied event's score off every ``sum`` board period of its time the user still holds (expired
    periods are gone); raises ``ScoreOutOfRange`` if a total would leave the 64-bit range. Returns (state, keys
    changed). ``max``/``min``/``latest`` boards are worked out again from the journal (``stream_app.moderator``)."""
    new = dict(state.boards)
    changed = []
    for board, x in counting:
        if board.aggregation != "sum":
            continue
        for key in board.keys_at(occurred_ms):
            if key in new:
                score, since = new[key]
                total = score - x
                if not SCORE_MIN <= total <= SCORE_MAX:
                    raise ScoreOutOfRange(f"the total on {key} would be {total}, outside the signed 64-bit range")
                new[key] = (total, since)
                changed.append(key)
    return state._replace(boards=new, mod_offset=mod_offset), changed
