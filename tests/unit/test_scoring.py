"""The pure rules behind exactly-once application and period totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from stream_app.idempotency import Decision, EventRecord, decide
from stream_app.scoring import SCORE_MAX, SCORE_MIN, ScoreOutOfRange, UserState
from stream_app.scoring import apply_event as apply_counting

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
DAY = 86_400_000
BOARDS = Boards.default(ActionCatalog({"win": 25}))


def apply_event(state: UserState, *, points: int, offset: int, occurred_at: datetime, username: str | None,
                now: datetime, retention: timedelta) -> tuple[UserState, list[str]]:
    """The global board only (the default boards), scoring ``points``."""
    return apply_counting(state, counting=((BOARDS.get("global"), points),), boards=BOARDS, offset=offset,
                          at_ms=int(occurred_at.timestamp() * 1000), username=username, now=now, retention=retention)


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


@pytest.mark.parametrize(("start", "points"), [(SCORE_MAX - 10, 11), (SCORE_MIN + 10, -11)])
def test_a_total_leaving_the_signed_64_bit_range_is_refused_never_wrapped(start: int, points: int) -> None:
    state = UserState(offset=1, boards={"alltime": (start, 0)})
    with pytest.raises(ScoreOutOfRange, match="signed 64-bit range"):
        apply_event(state, points=points, offset=2, occurred_at=NOW, username=None, now=NOW,
                    retention=timedelta(days=7))
    edge, _ = apply_event(state, points=points - (1 if points > 0 else -1), offset=2, occurred_at=NOW,
                          username=None, now=NOW, retention=timedelta(days=7))
    assert edge.score() in (SCORE_MAX, SCORE_MIN)


def test_event_record_keeps_its_action_and_reads_records_written_before_it() -> None:
    record = EventRecord(offset=5, new_score=50, points=25, at_ms=1_000, action_id="win_match")
    assert EventRecord.from_json(record.to_json()) == record
    legacy = EventRecord.from_json([5, 50, 25, 1_000])
    assert legacy is not None and legacy.action_id is None and not legacy.conflicts_with("anything")
    assert record.conflicts_with("lose_match") and not record.conflicts_with("win_match")
