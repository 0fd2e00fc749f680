"""Period keys for the daily and weekly boards (UTC): ``daily:2026-11-26``, ``weekly:2026-W48``.

Explicit period keys in ordinary tables replace Faust's windowed tables, whose windows are lost or never
expire after a rebalance (faust-streaming #385, #193).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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


def is_expired(board: str, now: datetime, retention: timedelta) -> bool:
    start = period_start(board)
    if start is None:
        return False
    length = timedelta(days=7 if board.startswith("weekly:") else 1)
    return datetime.combine(start, datetime.min.time(), UTC) + length + retention <= now
