"""Periods of the windowed boards: ``daily:2026-11-26``, ``weekly:2026-W48``, ``monthly:2026-11``.

A period is a local calendar day, ISO week or month in a board's time zone (IANA, :mod:`zoneinfo`): it begins at
the zone's first instant of its first day (a day that starts in a DST gap begins when the clocks jump; one that
repeats midnight begins at the first), so a day lasts 23, 24 or 25 hours across the DST changes. The pure
functions here take the zone; :class:`schemas.boards.Boards` knows each board's.

Explicit period keys in ordinary tables replace Faust's windowed tables, whose windows are lost or never
expire after a rebalance (faust-streaming #385, #193).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from schemas.leaderboard import Window


def day_period(moment: datetime, tz: tzinfo = UTC) -> str:
    return moment.astimezone(tz).date().isoformat()


def week_period(moment: datetime, tz: tzinfo = UTC) -> str:
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def month_period(moment: datetime, tz: tzinfo = UTC) -> str:
    local = moment.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def period_for(window: Window, moment: datetime, tz: tzinfo = UTC) -> str | None:
    """The period of ``window`` that ``moment`` falls in, in zone ``tz``; None for ``alltime``."""
    if window == "daily":
        return day_period(moment, tz)
    if window == "weekly":
        return week_period(moment, tz)
    if window == "monthly":
        return month_period(moment, tz)
    return None


def board_id(window: Window, period: str | None) -> str:
    """The ``leaderboard-updates`` key: ``alltime``, ``daily:2026-11-26`` or ``weekly:2026-W48``."""
    return window if period is None else f"{window}:{period}"


FIRST_YEAR, LAST_YEAR = 2000, 9000  # periods outside these years are no board's: every date sum below stays valid
_DAILY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WEEKLY = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTHLY = re.compile(r"([0-9]{4})-([0-9]{2})")


def first_day(window: str, period: str) -> date:
    """The first local day of a period of ``window``; ``ValueError`` for a period not in the window's form
    (ASCII digits only), a date or week that does not exist, or a year outside 2000..9000 (the arithmetic on
    periods, their end plus the retention, must never leave what ``datetime`` holds)."""
    try:
        if window == "daily" and _DAILY.fullmatch(period):
            start = date.fromisoformat(period)
        elif window == "weekly" and (match := _WEEKLY.fullmatch(period)):
            start = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        elif window == "monthly" and (match := _MONTHLY.fullmatch(period)):
            start = date(int(match[1]), int(match[2]), 1)
        else:
            raise ValueError("not in the window's form")
    except ValueError as exc:
        raise ValueError(f"{period[:40]!r} is not a {window} period ({exc}; daily YYYY-MM-DD, weekly YYYY-Www, "
                         "monthly YYYY-MM)") from None
    if not FIRST_YEAR <= start.year <= LAST_YEAR:
        raise ValueError(f"{period!r}: the period is outside the years {FIRST_YEAR}..{LAST_YEAR}")
    return start


def next_first_day(window: str, first: date) -> date:
    """The first day of the period after the one beginning on ``first``."""
    if window == "daily":
        return first + timedelta(days=1)
    if window == "weekly":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The zone's first instant of ``day``, in UTC. A midnight the clocks skip (a DST gap) is read with the offset
    before the change, which is the instant the day really begins; a repeated midnight is its first occurrence."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def bounds_in(window: str, period: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """When a period begins and ends (the next reset) in zone ``tz``, as UTC datetimes."""
    first = first_day(window, period)
    return local_midnight(first, tz), local_midnight(next_first_day(window, first), tz)


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
