"""The standings questions answered from the rank index: one user, around a user, a friends list, a page.

Every body names the state it reflects (``version``: the index's, one per applied batch) and the board
(``window``, ``period``, ``board``, ``total_players``); each answer is computed in one step of the event loop,
so the rows of one body are all of the same version. Pure functions of the index and the clock: the routes
(:mod:`sse_server.standings_routes`) only parse parameters and encode.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from schemas.events import check_characters
from schemas.leaderboard import Window
from schemas.periods import board_id, period_bounds, period_for, period_start
from schemas.standings import BOARD
from sse_server.standings import BoardRanks, Row, StandingsIndex

_TIMESTAMP = TypeAdapter(datetime)  # the timestamp format of every other body (LeaderboardSnapshot)
MAX_IDS = 100
MAX_USER_ID = 128


def iso(moment: datetime) -> Any:
    return _TIMESTAMP.dump_python(moment, mode="json")


@lru_cache(maxsize=1024)
def period_fields(board_id: str) -> dict[str, Any]:
    """``period_start`` and ``period_end`` (the next reset) of a board, ISO-8601 UTC; null for ``alltime``."""
    bounds = period_bounds(board_id)
    return {"period_start": iso(bounds[0]) if bounds else None, "period_end": iso(bounds[1]) if bounds else None}


class BadParameter(ValueError):
    """A parameter the request cannot be answered with; the message names it (answered ``400``)."""


class Scope(NamedTuple):
    """Which board a request is about."""

    window: Window
    period: str | None
    board_id: str  # the key of leaderboard-updates and of user-standings' boards: alltime, daily:..., weekly:...


def resolve(window: Window, period: str | None, board: str, now: datetime) -> Scope:
    """The board of ``window`` in ``period`` (default: the current one) on ``board``; ``BadParameter`` if none."""
    if board != BOARD:
        raise BadParameter(f"board: unknown board {board!r} (this deployment has one board, {BOARD!r})")
    if period is None:
        period = period_for(window, now)
    elif window == "alltime":
        raise BadParameter("period: the alltime window has no periods")
    else:
        try:
            if period_start(board_id(window, period)) is None:
                raise ValueError(period)
        except ValueError:
            example = "2026-11-26" if window == "daily" else "2026-W48"
            raise BadParameter(f"period: {period!r} is not a {window} period (e.g. {example!r})") from None
    return Scope(window, period, board_id(window, period))


def check_user_id(user_id: str, name: str = "user_id") -> str:
    """The write API's rules for a ``user_id`` (``schemas.events``), so every id that can score can be asked for."""
    if not 1 <= len(user_id) <= MAX_USER_ID:
        raise BadParameter(f"{name}: a user_id is 1-{MAX_USER_ID} characters")
    try:
        return check_characters(user_id)
    except ValueError as exc:
        raise BadParameter(f"{name}: a user_id {exc}") from None


def parse_ids(raw: str) -> list[str]:
    """``ids=a,b,c``: 1..100 distinct user ids, in the order given."""
    ids = list(dict.fromkeys(part for part in raw.split(",") if part))
    if not 1 <= len(ids) <= MAX_IDS:
        raise BadParameter(f"ids: give 1-{MAX_IDS} comma-separated user ids (got {len(ids)})")
    for user_id in ids:
        check_user_id(user_id, "ids")
    return ids


class StandingsReads:
    def __init__(self, index: StandingsIndex) -> None:
        self.index = index

    def meta(self, scope: Scope, ranks: BoardRanks | None, now: datetime) -> dict[str, Any]:
        return {"window": scope.window, "period": scope.period, **period_fields(scope.board_id), "board": BOARD,
                "total_players": len(ranks) if ranks is not None else 0, "version": self.index.version,
                "timestamp": iso(now)}

    def user(self, scope: Scope, user_id: str, now: datetime) -> dict[str, Any] | None:
        """``GET /leaderboard/users/{user_id}``; None when the user has no score on the board."""
        ranks = self.index.board(scope.board_id)
        row = ranks.rank(user_id) if ranks is not None else None
        if ranks is None or row is None:
            return None
        return {"user_id": user_id, "username": self.index.names.get(user_id), "score": row.score,
                "rank": row.rank, "top_percent": round(100 * row.rank / len(ranks), 2),
                **self.meta(scope, ranks, now)}

    def around(self, scope: Scope, user_id: str, radius: int, now: datetime) -> dict[str, Any] | None:
        """The user's row with up to ``radius`` rows above and below; None when the user has no score."""
        ranks = self.index.board(scope.board_id)
        row = ranks.rank(user_id) if ranks is not None else None
        if ranks is None or row is None:
            return None
        return {"data": self._rows(ranks.rows(row.rank - 1 - radius, row.rank + radius)),
                **self.meta(scope, ranks, now)}

    def friends(self, scope: Scope, ids: list[str], now: datetime) -> dict[str, Any]:
        ranks = self.index.board(scope.board_id)
        found: list[Row] = []
        missing: list[str] = []
        for user_id in ids:
            row = ranks.rank(user_id) if ranks is not None else None
            if row is None:
                missing.append(user_id)
            else:
                found.append(row)
        found.sort()
        return {"data": self._rows(found), "missing": missing, **self.meta(scope, ranks, now)}

    def page(self, scope: Scope, offset: int, limit: int, now: datetime) -> dict[str, Any]:
        ranks = self.index.board(scope.board_id)
        rows = ranks.rows(offset, offset + limit) if ranks is not None else []
        return {"data": self._rows(rows), **self.meta(scope, ranks, now)}

    def _rows(self, rows: list[Row]) -> list[dict[str, Any]]:
        names = self.index.names
        return [{"rank": r.rank, "user_id": r.user_id, "username": names.get(r.user_id), "score": r.score}
                for r in rows]
