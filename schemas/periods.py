"""Period keys for the daily and weekly boards (UTC): ``daily:2026-11-26``, ``weekly:2026-W48``.

Explicit period keys in ordinary tables replace Faust's windowed tables, whose windows are lost or never
expire after a rebalance (faust-streaming #385, #193).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from schemas.leaderboard import Window


def day_period(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def week_period(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def period_for(window: Window, moment: datetime) -> str | None:
    if window == "daily":
        return day_period(moment)
    if window == "weekly":
        return week_period(moment)
    return None


def board_id(window: Window, period: str | None) -> str:
    """The ``leaderboard-updates`` key: ``alltime``, ``daily:2026-11-26`` or ``weekly:2026-W48``."""
    return window if period is None else f"{window}:{period}"


def period_start(board: str) -> date | None:
    """First day of a board's period, or None for ``alltime`` (used to expire old periods)."""
    window, _, period = board.partition(":")
    if window == "daily":
        return date.fromisoformat(period)
    if window == "weekly":
        year, week = period.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return None


def period_bounds(board: str) -> tuple[datetime, datetime] | None:
    """When a board's period begins and ends (the next reset), UTC; None for ``alltime``."""
    return _bounds(board)


@lru_cache(maxsize=4096)
def _bounds(board: str) -> tuple[datetime, datetime] | None:
    start = period_start(board)
    if start is None:
        return None
    begin = datetime.combine(start, datetime.min.time(), UTC)
    return begin, begin + timedelta(days=7 if board.startswith("weekly:") else 1)


def is_expired(board: str, now: datetime, retention: timedelta) -> bool:
    end = expires_at(board, retention)
    return end is not None and end <= now


@lru_cache(maxsize=4096)
def expires_at(board: str, retention: timedelta) -> datetime | None:
    """When a board's period (plus ``retention``) is over; None for ``alltime``. Cached: it is asked per event."""
    start = period_start(board)
    if start is None:
        return None
    length = timedelta(days=7 if board.startswith("weekly:") else 1)
    return datetime.combine(start, datetime.min.time(), UTC) + length + retention


def period_start_us(window: Window, moment: datetime) -> int:
    """When the period of ``window`` containing ``moment`` began, in µs since the epoch (0 for ``alltime``).

    The version of a period's board before any score reached it (its empty board) is at least this: later than
    every version of an earlier period, which were all given before it began, and the same on every process."""
    if window == "alltime":
        return 0
    day = moment.astimezone(UTC).date()
    if window == "weekly":
        day -= timedelta(days=day.weekday())
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp()) * 1_000_000
