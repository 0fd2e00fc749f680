"""Where a player stands: the ``user-standings`` and ``rank-changes`` records and the standings bodies.

``user-standings`` (compacted, key ``user_id``) carries each user's current score and since-time per board id
(``alltime``, ``daily:2026-11-26``, ``weekly:2026-W48``); the worker writes it once per changed user per batch,
beside the state table's changelog, and read replicas build their rank index from it. ``since`` is when the user
reached that score (ms since the epoch): the second key of the board's one ordering (score descending, then who
reached it first, then ``user_id``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from schemas.leaderboard import LeaderboardRow, LeaderboardSnapshot, Window

BOARD = "global"  # the one board until boards become data; the ``board`` field and parameter name it


class BoardStanding(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: int = Field(description="the user's total on this board")
    since: int = Field(description="when the user reached this score, ms since the epoch (earlier ranks first)")


class UserStanding(BaseModel):
    """One ``user-standings`` value: the user's standing on every board id the user has a score on."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    username: str | None = None
    boards: dict[str, BoardStanding]


class RankChange(BaseModel):
    """One ``rank-changes`` value: a user entered, moved within or left a board's top-K (``null`` = outside)."""

    model_config = ConfigDict(frozen=True)

    board: str = Field(description="the board id, as the key of leaderboard-updates (alltime, daily:..., ...)")
    user_id: str
    old_rank: int | None
    new_rank: int | None
    passed: list[str] = Field(description="the users this user overtook (above before, below now)")
    version: int = Field(description="the version of the board emitted with this change")


class StandingsMeta(BaseModel):
    """What every board and standings body says about the state it reflects."""

    model_config = ConfigDict(frozen=True)

    window: Window
    period: str | None = None
    period_start: datetime | None = Field(None, description="when the period began (null for alltime)")
    period_end: datetime | None = Field(None, description="when the period ends: the board's next reset")
    board: str = BOARD
    total_players: int
    version: int
    timestamp: datetime


_META_EXAMPLE: dict[str, JsonValue] = {"window": "alltime", "period": None, "board": BOARD, "total_players": 1_000_000,
                 "version": 1764559871123456, "timestamp": "2026-12-01T03:31:11.123456Z"}
_ROWS_EXAMPLE: list[JsonValue] = [{"rank": 41_527, "user_id": "u-7319", "username": "Mira", "score": 1250},
                 {"rank": 41_528, "user_id": "u-0042", "username": "Jonas", "score": 1250},
                 {"rank": 41_529, "user_id": "u-5120", "username": None, "score": 1245}]


class UserStandingBody(StandingsMeta):
    """``GET /leaderboard/users/{user_id}``."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [
        {"user_id": "u-0042", "username": "Jonas", "score": 1250, "rank": 41_528, "top_percent": 4.15,
         **_META_EXAMPLE}]})

    user_id: str
    username: str | None
    score: int
    rank: int
    top_percent: float = Field(description="round(100 * rank / total_players, 2)")


class RowsBody(StandingsMeta):
    """``GET /leaderboard/around/{user_id}``, and ``GET /leaderboard`` with ``offset``."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [{"data": _ROWS_EXAMPLE, **_META_EXAMPLE}]})

    data: list[LeaderboardRow]


class FriendsBody(RowsBody):
    """``GET /leaderboard/users?ids=``: the rows of the users found, by rank, and the ids not on the board."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [
        {"data": [_ROWS_EXAMPLE[0], _ROWS_EXAMPLE[2]], "missing": ["u-9999"], **_META_EXAMPLE}]})

    missing: list[str]


class BoardBody(LeaderboardSnapshot):
    """``GET /leaderboard`` (and each SSE ``leaderboard_update``): the ``leaderboard-updates`` board, plus the
    board name and its number of players when the read replica built it."""

    period_start: datetime | None = Field(None, description="when the period began (null for alltime)")
    period_end: datetime | None = Field(None, description="when the period ends: the board's next reset")
    board: str = BOARD
    total_players: int = 0


class PeriodInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    period: str
    start: datetime
    end: datetime = Field(description="the reset: events count until end + SCOREBOARD_PERIOD_GRACE_S")
    final: bool = Field(description="its final standings are sealed on leaderboard-final")


class PeriodsBody(BaseModel):
    """``GET /leaderboard/periods``: the window's periods still kept, newest first."""

    model_config = ConfigDict(frozen=True)

    data: list[PeriodInfo]


class PeriodFinal(BaseModel):
    """One ``leaderboard-final`` value (key: the board id): a sealed period's final standings, written once."""

    model_config = ConfigDict(frozen=True)

    board: str = BOARD
    board_id: str = Field(description="daily:2026-11-30, weekly:2026-W48")
    window: Window
    period: str
    period_start: datetime
    period_end: datetime
    sealed_at: datetime = Field(description="when the worker sealed it (at or after period_end + the grace)")
    total_players: int
    data: list[LeaderboardRow] = Field(description="the final top-K")
