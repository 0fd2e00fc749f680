"""Period keys for the daily and weekly boards (UTC): ``daily:2026-11-26``, ``weekly:2026-W48``.

Explicit period keys in ordinary tables replace Faust's windowed tables, whose windows are lost or never
expire after a rebalance (faust-streaming #385, #193).
"""

from __future__ import annotations

import re
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


FIRST_YEAR, LAST_YEAR = 2000, 9000  # periods outside these years are no board's: every date sum below stays valid
_DAILY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WEEKLY = re.compile(r"([0-9]{4})-W([0-9]{2})")


def period_start(board: str) -> date | None:
    """First day of a board's period, or None for ``alltime`` (used to expire old periods).

    ``ValueError`` for anything that is not a board id: another window, a period in another form (ASCII digits
    only), a date that does not exist, or a year outside 2000..9000 (the arithmetic on periods, their end plus the
    retention, must never leave what ``datetime`` holds). Every board id read from outside goes through here."""
    window, _, period = board.partition(":")
    if window == "alltime" and not period:
        return None
    if window == "daily" and _DAILY.fullmatch(period):
        start = date.fromisoformat(period)
    elif window == "weekly" and (match := _WEEKLY.fullmatch(period)):
        start = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    else:
        raise ValueError(f"{board!r} is not a board id (alltime, daily:YYYY-MM-DD, weekly:YYYY-Www)")
    if not FIRST_YEAR <= start.year <= LAST_YEAR:
        raise ValueError(f"{board!r}: the period is outside the years {FIRST_YEAR}..{LAST_YEAR}")
    return start


def check_board_id(board: str) -> str:
    """``board`` if it is a board id, else ``ValueError`` saying why (see :func:`period_start`)."""
    period_start(board)
    return board


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
