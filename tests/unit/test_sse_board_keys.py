"""Board store and window -> board resolution of the read/stream API (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sse_server.boards import BoardStore, current_board_id, window_of
from tests.fixtures.sse import board_record

pytestmark = pytest.mark.unit

THU = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(("window", "now", "expected"), [
    ("alltime", THU, "alltime"),
    ("daily", THU, "daily:2026-11-26"),
    ("weekly", THU, "weekly:2026-W48"),
    ("daily", datetime(2026, 11, 27, 0, 0, tzinfo=UTC), "daily:2026-11-27"),
    ("weekly", datetime(2026, 11, 30, 0, 0, tzinfo=UTC), "weekly:2026-W49"),  # Monday starts a new ISO week
    ("weekly", datetime(2027, 1, 1, 12, 0, tzinfo=UTC), "weekly:2026-W53"),  # ISO year differs from calendar
    ("daily", datetime.fromisoformat("2026-11-27T01:30:00+05:00"), "daily:2026-11-26"),  # UTC day, not local
])
def test_window_resolves_to_the_current_utc_period_board(window: str, now: datetime, expected: str) -> None:
    assert current_board_id(window, now) == expected  # type: ignore[arg-type]


def test_window_of_board_id() -> None:
    assert window_of("alltime") == "alltime"
    assert window_of("daily:2026-11-26") == "daily"
    assert window_of("weekly:2026-W48") == "weekly"
    assert window_of("monthly:2026-11") is None


def test_current_board_is_the_latest_version_of_the_current_period() -> None:
    store = BoardStore()
    assert store.apply(*board_record("daily", 3, [("a", 5)], now=THU)).outcome == "applied"
    assert store.apply(*board_record("daily", 4, [("a", 9), ("b", 1)], now=THU)).outcome == "applied"
    board = store.current("daily", THU)
    assert (board.version, [r.user_id for r in board.data]) == (4, ["a", "b"])


def test_older_or_equal_versions_are_ignored() -> None:
    store = BoardStore()
    store.apply(*board_record("alltime", 10, [("a", 5)]))
    assert store.apply(*board_record("alltime", 10, [("x", 1)])).outcome == "stale"
    assert store.apply(*board_record("alltime", 9, [("y", 1)])).outcome == "stale"
    assert store.current("alltime", THU).data[0].user_id == "a"


def test_the_empty_stand_in_of_a_new_period_has_a_version_of_its_own() -> None:
    store = BoardStore()
    late = int(datetime(2026, 11, 26, 23, 59, tzinfo=UTC).timestamp() * 1e6)
    store.apply(*board_record("daily", late, [("a", 5)], now=THU))
    next_day = datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)
    board = store.current("daily", next_day)
    midnight = int(datetime(2026, 11, 27, tzinfo=UTC).timestamp() * 1e6)
    assert board.data == [] and board.version == midnight and board.period == "2026-11-27"
    # a version past the period's start (a late update of the old day) is still passed: ids only grow
    store.apply(*board_record("daily", midnight + 7, [("a", 6)], now=THU))
    assert store.current("daily", next_day).version == midnight + 8
    assert store.current("alltime", THU).version == 1  # no board yet: 0 + 1


@pytest.mark.parametrize(("key", "value", "why"), [
    (None, b"{}", "no key"),
    (b"\xff\xfe", b"{}", "not UTF-8"),
    (b"alltime", b"[1, 2", "value"),
    (b"alltime", b'{"data": [], "window": "hourly", "timestamp": "2026-11-26T00:00:00Z", "version": 1}',
     "window"),
    (b"alltime", b'{"data": [], "window": "alltime", "timestamp": "2026-11-26T00:00:00Z"}', "version"),
    (b"daily:2026-11-26", board_record("daily", 1, [], period="2026-11-25")[1], "does not match"),
])
def test_invalid_records_are_rejected_with_a_reason(key: bytes | None, value: bytes, why: str) -> None:
    store = BoardStore()
    result = store.apply(key, value)
    assert result.outcome == "invalid"
    assert why in result.reason
    assert store.boards == {}


def test_tombstone_removes_a_board() -> None:
    store = BoardStore()
    key, value = board_record("weekly", 2, [("a", 1)], now=THU)
    store.apply(key, value)
    assert store.apply(key, None).outcome == "removed"
    assert store.boards == {}
    assert store.apply(key, None).outcome == "stale"


@pytest.mark.parametrize(("key", "period", "reason"), [
    (b"daily:2026-13-45", "2026-13-45", "month"),
    (b"daily:9999-12-31", "9999-12-31", "years"),
    (b"weekly:zzz", "zzz", "not a board id"),
])
def test_a_board_whose_period_is_no_period_is_refused_not_kept(key: bytes, period: str, reason: str) -> None:
    store = BoardStore()
    _, value = board_record("daily" if key.startswith(b"daily") else "weekly", 5, [("ann", 1)], period=period)
    result = store.apply(key, value)
    assert (result.outcome, reason in result.reason) == ("invalid", True) and store.boards == {}


def test_a_score_beyond_64_bits_is_refused() -> None:
    store = BoardStore()
    key, value = board_record("alltime", 5, [("ann", 1)])
    result = store.apply(key, value.replace(b'"score":1', b'"score":%d' % 2**70))  # orjson cannot write it
    assert result.outcome == "invalid" and "score" in result.reason and store.boards == {}
