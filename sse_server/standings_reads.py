"""The standings questions answered from the rank index: one user, around a user, a friends list, a page.

Every body names the state it reflects (``version``: the index's, one per applied batch) and the board
(``window``, ``period``, ``board``, ``total_players``); each answer is computed in one step of the event loop,
so the rows of one body are all of the same version. Pure functions of the index and the clock: the routes
(:mod:`sse_server.standings_routes`) only parse parameters and encode. A request names a board (``board=``,
default ``global``) and one of its windows; periods and their bounds are the board's, in its time zone
(:class:`schemas.boards.Boards`).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from schemas.boards import GLOBAL, Board, Boards
from schemas.events import check_characters
from schemas.leaderboard import Window
from sse_server.boards import DEFAULT_BOARDS
from sse_server.standings import BoardRanks, Row, StandingsIndex

_TIMESTAMP = TypeAdapter(datetime)  # the timestamp format of every other body (LeaderboardSnapshot)
MAX_IDS = 100
MAX_USER_ID = 128


def iso(moment: datetime) -> Any:
    return _TIMESTAMP.dump_python(moment, mode="json")


EXAMPLES = {"daily": "2026-11-26", "weekly": "2026-W48", "monthly": "2026-11"}


@lru_cache(maxsize=4096)
def period_fields(board_id: str, boards: Boards = DEFAULT_BOARDS) -> dict[str, Any]:
    """``period_start`` and ``period_end`` (the next reset) of a board key, ISO-8601 UTC, from the board's zone;
    null for ``alltime``."""
    bounds = boards.bounds(board_id)
    return {"period_start": iso(bounds[0]) if bounds else None, "period_end": iso(bounds[1]) if bounds else None}


class BadParameter(ValueError):
    """A parameter the request cannot be answered with; the message names it (answered ``400``)."""


class Scope(NamedTuple):
    """Which board a request is about."""

    window: Window
    period: str | None
    board_id: str  # the board key of leaderboard-updates and user-standings: alltime, daily:..., mode-x/weekly:...
    board: str = GLOBAL  # the board's name


def default_window(board: Board) -> Window:
    """The window a request without ``window=`` means: ``alltime``, or the board's first when it has none."""
    return "alltime" if "alltime" in board.windows else board.windows[0]


def resolve(window: Window | None, period: str | None, board: str, now: datetime,
            boards: Boards = DEFAULT_BOARDS) -> Scope:
    """The board of ``window`` (default: :func:`default_window`) in ``period`` (default: the current one, in the
    board's zone) on ``board``; ``BadParameter`` for an unknown board, a window the board does not have or a
    period that is none."""
    try:
        found = boards.get(board)
    except ValueError as exc:
        raise BadParameter(f"board: {exc}") from None
    if window is None:
        window = default_window(found)
    if window not in found.windows:
        raise BadParameter(f"window: board {found.name!r} has the windows {', '.join(found.windows)}, "
                           f"not {window[:40]!r}")
    if period is None:
        period = found.period(window, now)
    elif window == "alltime":
        raise BadParameter("period: the alltime window has no periods")
    else:
        try:
            boards.parse(found.key(window, period))
        except ValueError:
            raise BadParameter(f"period: {period[:40]!r} is not a {window} period (e.g. "
                               f"{EXAMPLES.get(window, '')!r})") from None
    return Scope(window, period, found.key(window, period), found.name)


def is_current(scope: Scope, now: datetime, boards: Boards = DEFAULT_BOARDS) -> bool:
    """Whether ``scope`` is its board's current period (in the board's zone)."""
    return scope.period == boards.get(scope.board).period(scope.window, now)


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
        return {"window": scope.window, "period": scope.period,
                **period_fields(scope.board_id, self.index.definitions), "board": scope.board,
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
