"""The pure rules behind exactly-once application and period totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.catalog import ActionCatalog
from stream_app.ingest import parse_record
from stream_app.scoring import Decision, EventRecord, UserState, apply_event, decide

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
DAY = 86_400_000


def test_replayed_offset_is_skipped() -> None:
    state = UserState(offset=10)
    assert decide(state, None, 10, 0, DAY) is Decision.REPLAY
    assert decide(state, None, 9, 0, DAY) is Decision.REPLAY
    assert decide(state, None, 11, 0, DAY) is Decision.APPLY


def test_same_event_id_from_another_record_is_a_duplicate_within_ttl() -> None:
    record = EventRecord(offset=5, new_score=50, points=25, at_ms=1_000)
    state = UserState(offset=7)
    assert decide(state, record, 8, 1_000 + DAY - 1, DAY) is Decision.DUPLICATE
    assert decide(state, record, 8, 1_000 + DAY, DAY) is Decision.APPLY  # window over: applies again


def test_event_record_of_this_very_offset_means_apply() -> None:
    # the event record reached the changelog, the user's state did not: the crash recovery must apply it
    record = EventRecord(offset=8, new_score=50, points=25, at_ms=1_000)
    assert decide(UserState(offset=7), record, 8, 2_000, DAY) is Decision.APPLY


def test_apply_updates_all_boards_and_remembers_when() -> None:
    state, changed = apply_event(UserState(), points=25, offset=3, occurred_at=NOW, username="Ann",
                                 now=NOW, retention=timedelta(days=7))
    assert changed == ["alltime", "daily:2026-11-26", "weekly:2026-W48"]
    assert state.offset == 3 and state.username == "Ann"
    assert all(state.boards[b] == (25, int(NOW.timestamp() * 1000)) for b in changed)
    again, _ = apply_event(state, points=0, offset=4, occurred_at=NOW + timedelta(hours=1), username=None,
                           now=NOW, retention=timedelta(days=7))
    assert again.boards["alltime"] == state.boards["alltime"]  # zero points: the score was reached earlier
    assert again.username == "Ann"  # latest given name wins; none given keeps it


def test_expired_periods_are_dropped_and_late_events_count_all_time_only() -> None:
    old = NOW - timedelta(days=30)
    state = UserState(boards={"daily:2026-10-01": (5, 0), "alltime": (5, 0)})
    new, changed = apply_event(state, points=10, offset=1, occurred_at=old, username=None,
                               now=NOW, retention=timedelta(days=7))
    assert changed == ["alltime"]
    assert new.boards == {"alltime": (15, int(old.timestamp() * 1000))}


def test_state_json_round_trip() -> None:
    state = UserState(offset=42, username=None, boards={"alltime": (7, 123)})
    assert UserState.from_json(state.to_json()) == state
    assert UserState.from_json(None) == UserState()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"u", None, "empty value"),
        (b"u", b"{", "not JSON"),
        (b"u", b"[1]", "not a JSON object"),
        (b"u", b'{"user_id": "u"}', "invalid event: action_id"),
        (b"x", b'{"user_id": "u", "action_id": "win_match"}', "record key"),
        (b"u", b'{"user_id": "u", "action_id": "nope"}', "unknown action_id"),
    ],
)
def test_parse_record_reasons(key: bytes, value: bytes | None, reason: str) -> None:
    catalog = ActionCatalog({"win_match": 25})
    result = parse_record(key, value, catalog)
    assert isinstance(result, str) and reason in result


def test_parse_record_ok() -> None:
    result = parse_record(b"u", b'{"user_id": "u", "action_id": "win_match"}', ActionCatalog({"win_match": 25}))
    assert not isinstance(result, str)
    assert result[1] == 25
