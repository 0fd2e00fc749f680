"""Boards as data, the pure part: the boards file checked against the catalog, board keys, local periods across
both DST changes and the ISO-week/year edge, and each aggregation's tie-break (who reached the score first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.boards import GLOBAL, Aggregation, Board, BoardDefinition, Boards, BoardsError
from schemas.catalog import ActionCatalog, ValueRange
from schemas.leaderboard import Window
from schemas.periods import bounds_in, period_for
from stream_app.scoring import combine

pytestmark = pytest.mark.unit

CATALOG = ActionCatalog({"win": 25, "login": 5}, {"lap": ValueRange(min=1, max=3_600_000)})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "moment", "daily", "weekly", "monthly"), [
    # 2026-12-31 across the ISO-week/year edge: 2026 has 53 ISO weeks; 2027-01-01 (a Friday) is still 2026-W53
    ("Pacific/Auckland", utc(2026, 12, 31, 10, 59, 59), "2026-12-31", "2026-W53", "2026-12"),
    ("Pacific/Auckland", utc(2026, 12, 31, 11), "2027-01-01", "2026-W53", "2027-01"),  # NZDT, UTC+13
    ("America/Los_Angeles", utc(2027, 1, 1, 7, 59, 59), "2026-12-31", "2026-W53", "2026-12"),  # PST, UTC-8
    ("America/Los_Angeles", utc(2027, 1, 1, 8), "2027-01-01", "2026-W53", "2027-01"),
    ("UTC", utc(2027, 1, 3, 23, 59, 59), "2027-01-03", "2026-W53", "2027-01"),
    ("UTC", utc(2027, 1, 4), "2027-01-04", "2027-W01", "2027-01"),
    ("Asia/Kathmandu", utc(2026, 11, 30, 18, 14, 59), "2026-11-30", "2026-W49", "2026-11"),  # UTC+5:45
    ("Asia/Kathmandu", utc(2026, 11, 30, 18, 15), "2026-12-01", "2026-W49", "2026-12"),
])
def test_period_ids_are_local_days_iso_weeks_and_months(zone: str, moment: datetime, daily: str, weekly: str,
                                                        monthly: str) -> None:
    tz = ZoneInfo(zone)
    assert (period_for("daily", moment, tz), period_for("weekly", moment, tz),
            period_for("monthly", moment, tz)) == (daily, weekly, monthly)
    assert period_for("alltime", moment, tz) is None


@pytest.mark.parametrize(("zone", "day", "start", "hours"), [
    ("America/Los_Angeles", "2026-03-08", utc(2026, 3, 8, 8), 23),  # spring forward: a 23-hour day
    ("America/Los_Angeles", "2026-11-01", utc(2026, 11, 1, 7), 25),  # fall back: a 25-hour day
    ("Pacific/Auckland", "2026-09-27", utc(2026, 9, 26, 12), 23),  # NZ DST begins
    ("Pacific/Auckland", "2026-04-05", utc(2026, 4, 4, 11), 25),  # NZ DST ends
    ("Europe/Berlin", "2026-03-29", utc(2026, 3, 28, 23), 23),
    ("Europe/Berlin", "2026-10-25", utc(2026, 10, 24, 22), 25),
    ("UTC", "2026-03-08", utc(2026, 3, 8), 24),
])
def test_a_local_day_lasts_23_24_or_25_hours_across_dst(zone: str, day: str, start: datetime, hours: int) -> None:
    begin, end = bounds_in("daily", day, ZoneInfo(zone))
    assert (begin, end - begin) == (start, timedelta(hours=hours))


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Auckland", "Europe/Berlin", "America/Santiago",
                                  "Asia/Kathmandu", "Australia/Lord_Howe", "America/Havana", "UTC"])
@pytest.mark.parametrize("window", ["daily", "weekly", "monthly"])
def test_every_period_of_2026_and_2027_begins_at_its_first_local_instant_and_tiles_time(zone: str,
                                                                                       window: Window) -> None:
    """Bounds by definition: the first instant whose local date is in the period (a midnight skipped by DST, as
    in Santiago or Havana, begins the day when the clocks jump), and each period ends where the next begins."""
    tz = ZoneInfo(zone)
    moment = utc(2026, 1, 1, 12)
    previous_end = None
    while moment < utc(2028, 1, 1):
        period = period_for(window, moment, tz)
        assert period is not None
        begin, end = bounds_in(window, period, tz)
        assert period_for(window, begin, tz) == period
        assert period_for(window, begin - timedelta(microseconds=1), tz) != period
        assert period_for(window, end - timedelta(microseconds=1), tz) == period
        assert period_for(window, end, tz) != period
        assert previous_end is None or previous_end == begin
        previous_end, moment = end, end


def test_week_bounds_at_the_year_edge_in_auckland() -> None:
    begin, end = bounds_in("weekly", "2026-W53", ZoneInfo("Pacific/Auckland"))
    assert (begin, end) == (utc(2026, 12, 27, 11), utc(2027, 1, 3, 11))  # Mon 28 Dec .. Mon 4 Jan, NZDT


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Auckland", "America/Goose_Bay", "Asia/Kathmandu",
                                  "America/Santiago", "Australia/Lord_Howe"])
def test_the_cached_keys_of_an_event_time_equal_the_keys_worked_out_for_it(zone: str) -> None:
    """``Board.keys_at`` caches per quarter hour; around every period start of two years it must give what a
    direct computation gives, to the millisecond (zones whose clocks change at odd minutes included)."""
    board = Board("b", BoardDefinition(windows=("alltime", "daily", "weekly", "monthly"), timezone=zone))
    tz = ZoneInfo(zone)
    moment = utc(2026, 1, 1)
    while moment < utc(2028, 1, 1):
        period = period_for("daily", moment, tz)
        assert period is not None
        begin, end = bounds_in("daily", period, tz)
        for probe in (begin - timedelta(milliseconds=1), begin, begin + timedelta(minutes=7)):
            ms = int(probe.timestamp() * 1000)
            direct = tuple(board.key(w, period_for(w, datetime.fromtimestamp(ms / 1000, UTC), tz))
                           for w in board.windows)
            assert board.keys_at(ms) == direct
        moment = end


def test_keys_of_the_global_board_stay_as_they_were_and_other_boards_are_prefixed() -> None:
    boards = Boards.parse_definitions({"laps": {"actions": ["lap"], "aggregation": "min", "value": True,
                                                "windows": ["alltime", "monthly"]}}, CATALOG, "test")
    at = int(utc(2026, 11, 30, 12).timestamp() * 1000)
    assert boards.get(GLOBAL).keys_at(at) == ("alltime", "daily:2026-11-30", "weekly:2026-W49")
    assert boards.get("laps").keys_at(at) == ("laps/alltime", "laps/monthly:2026-11")
    assert boards.parse("laps/monthly:2026-11")[1:] == ("monthly", "2026-11")
    assert boards.ascending("laps/alltime") and not boards.ascending("alltime")
    for bad in ("global/alltime", "nope/alltime", "laps/daily:2026-11-30", "laps/monthly:2026-13", "daily:x",
                "laps/alltime:2026", "weekly:2026-W54"):
        with pytest.raises(ValueError):
            boards.parse(bad)
    assert boards.gone("nope/alltime", utc(2026, 12, 1), timedelta(days=7))  # a removed board: nothing kept


def test_which_boards_count_an_action() -> None:
    boards = Boards.parse_definitions({
        "wins": {"actions": ["win"]}, "laps": {"actions": ["lap"], "value": True}, "all": {}}, CATALOG, "test")
    assert [b.name for b in boards.counting("win")] == ["global", "wins", "all"]
    assert [b.name for b in boards.counting("login")] == ["global", "all"]
    assert [b.name for b in boards.counting("lap")] == ["laps"]  # a value action only on value boards


@pytest.mark.parametrize(("text", "needle"), [
    ("wins: {aggregation: avg}", "board 'wins': aggregation: Input should be 'sum', 'max', 'min' or 'latest'"),
    ("wins: {timezone: Mars/Olympus}", "board 'wins': timezone: 'Mars/Olympus' is not an IANA"),
    ("wins: {windows: [hourly]}", "board 'wins': windows.0:"),
    ("wins: {windows: [daily, daily]}", "board 'wins': windows: a window is listed twice"),
    ("wins: {actions: [nope]}", "board 'wins': actions: 'nope' is not in the action catalog"),
    ("laps: {actions: [win], value: true}", "board 'laps': actions: 'win' has catalog points"),
    ("laps: {actions: [lap]}", "board 'laps': actions: 'lap' is a value action"),
    ("wins: {color: red}", "board 'wins': color: Extra inputs are not permitted"),
    ("wins: {timezone: localtime}", "board 'wins': timezone: 'localtime' is not an IANA time zone name"),
    ("wins: {actions: [win, win]}", "board 'wins': actions: an action is listed twice"),
    ("laps: {actions: [lap], value: 'yes'}", "board 'laps': value: Input should be a valid boolean"),
    ("Wins: {}", "board id 'Wins' must match [a-z0-9-]{1,64}"),
    ("wins: {order: up}", "board 'wins': order:"),
    ("[1, 2]", "must map board ids to definitions"),
    ("wins: {actions: [win]", "is not valid YAML/JSON"),
    ("wins: {actions: [win]}\nfast: {}\nwins: {actions: [login]}", "'wins' is given twice"),  # not the last silently
])
def test_a_bad_boards_file_names_the_board_and_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(text)
    with pytest.raises(BoardsError) as info:
        Boards.load(path, CATALOG)
    assert needle in str(info.value) and "\n" not in str(info.value)  # one line, whatever the parser said


def test_the_default_is_the_global_board_and_a_file_without_it_gets_it() -> None:
    assert Boards.load(None, CATALOG).describe() == {GLOBAL: {
        "actions": None, "aggregation": "sum", "order": "desc", "windows": ["alltime", "daily", "weekly"],
        "timezone": "UTC", "value": False}}
    boards = Boards.parse_definitions({"fast": {"aggregation": "min"}}, CATALOG, "test")
    assert list(boards.by_name) == [GLOBAL, "fast"] and boards.get("fast").ascending
    assert Boards.parse_definitions({"fast": {"aggregation": "min", "order": "desc"}}, CATALOG,
                                    "t").get("fast").ascending is False


def test_a_changed_definition_has_another_fingerprint() -> None:
    a = Board("b", BoardDefinition(actions=("win",)))
    assert a.fingerprint == Board("b", BoardDefinition(actions=("win",))).fingerprint
    assert a.fingerprint != Board("b", BoardDefinition(actions=("win", "login"))).fingerprint
    assert a.fingerprint != Board("b", BoardDefinition(actions=("win",), timezone="Europe/Berlin")).fingerprint


T0, T1, T2 = 1_000, 2_000, 3_000


def test_sum_adds_and_since_is_when_the_total_last_changed() -> None:
    assert combine("sum", None, 25, T0) == (25, T0)
    assert combine("sum", (25, T0), 25, T1) == (50, T1)
    assert combine("sum", (50, T1), 0, T2) == (50, T1)  # zero points: the total was reached before


@pytest.mark.parametrize(("aggregation", "better", "worse"), [("max", 90, 10), ("min", 10, 90)])
def test_max_and_min_keep_the_best_and_a_tie_goes_to_who_reached_it_first(aggregation: Aggregation, better: int,
                                                                          worse: int) -> None:
    assert combine(aggregation, None, 50, T1) == (50, T1)
    assert combine(aggregation, (50, T1), worse, T2) is None
    assert combine(aggregation, (50, T1), better, T2) == (better, T2)
    assert combine(aggregation, (50, T1), 50, T2) is None  # reached again later: the first stays
    assert combine(aggregation, (50, T1), 50, T0) == (50, T0)  # an earlier event reaching it, applied later


def test_latest_keeps_the_last_value_and_the_same_value_again_keeps_when_it_was_reached() -> None:
    assert combine("latest", None, 7, T0) == (7, T0)
    assert combine("latest", (7, T0), 3, T1) == (3, T1)  # lower: latest is not best
    assert combine("latest", (3, T1), 3, T2) is None
