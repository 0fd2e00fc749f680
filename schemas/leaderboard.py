"""The leaderboard as served by ``GET /leaderboard``, streamed over SSE and kept on ``leaderboard-updates``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Window = Literal["alltime", "daily", "weekly", "monthly"]
WINDOWS: tuple[Window, ...] = ("alltime", "daily", "weekly")  # the ``global`` board's windows (the default)
ALL_WINDOWS: tuple[Window, ...] = ("alltime", "daily", "weekly", "monthly")  # what a board may have


class LeaderboardRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    user_id: str
    username: str | None
    score: int = Field(ge=-(2**63), le=2**63 - 1, description="signed 64-bit")


class LeaderboardSnapshot(BaseModel):
    """The board body; ``version`` only grows and equals the SSE event id of the same state."""

    model_config = ConfigDict(frozen=True)

    data: list[LeaderboardRow]
    timestamp: datetime
    window: Window
    period: str | None = None
    version: int
    board: str = Field("global", description="the board (schemas.boards): global unless SCOREBOARD_BOARDS_FILE "
                       "defines others")
