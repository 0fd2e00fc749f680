"""Pure parts of moderation: the banned flag and command offset in a user's state, the journal entry's encoding
(old entries still read), taking an event's points back, and what a moderation command must name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.boards import Boards
from schemas.catalog import ActionCatalog, ValueRange
from schemas.moderation import ModerationCommand
from stream_app.idempotency import EventRecord, owner_key, owner_prefix
from stream_app.reverts import revert_event
from stream_app.scoring import ScoreOutOfRange, UserState

pytestmark = pytest.mark.unit

DAY_MS = 86_400_000
WHEN = int(datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp() * 1000)  # a Monday: daily 2026-11-30, 2026-W49
BOARDS = Boards.default(ActionCatalog({"win_match": 25}))
RECORD = EventRecord(3, 130, 25, WHEN, "win_match", WHEN)


def revert_points(state: UserState, points: int, occurred_ms: int, mod_offset: int) -> tuple[UserState, list[str]]:
    return revert_event(state, RECORD._replace(points=points, occurred_ms=occurred_ms), BOARDS, mod_offset, list)


def test_a_banned_users_state_round_trips_and_shows_no_board() -> None:
    state = UserState(7, "Ann", {"alltime": (100, 1)}, banned=True, mod_offset=3)
    again = UserState.from_json(state.to_json())
    assert again == state and dict(again.visible_boards()) == {}
    assert dict(UserState(7, "Ann", {"alltime": (100, 1)}).visible_boards()) == {"alltime": (100, 1)}
    assert UserState.from_json({"o": 7, "n": None, "b": {}}) == UserState(7)  # written before moderation


def test_journal_entries_round_trip_and_older_entries_still_read() -> None:
    entry = EventRecord(5, 130, 25, WHEN + 9, "win_match", WHEN, "cmd-1")
    assert EventRecord.from_json(entry.to_json()) == entry
    old = EventRecord.from_json([5, 130, 25, WHEN, "win_match"])  # an idempotency record of before the journal
    assert old is not None and old.occurred == WHEN and old.reverted_by is None
    assert len(EventRecord(5, 130, 25, WHEN, "win_match").to_json()) == 5  # unchanged when nothing new is set


def test_a_revert_takes_the_points_off_the_boards_of_its_day_the_user_still_holds() -> None:
    boards = BOARDS.get("global").keys_at(WHEN)
    assert boards == ("alltime", "daily:2026-11-30", "weekly:2026-W49")
    state = UserState(9, None, {"alltime": (130, 1), "daily:2026-11-30": (30, 2), "daily:2026-12-01": (5, 3)})
    after, changed = revert_points(state, 25, WHEN, mod_offset=4)
    assert changed == ["alltime", "daily:2026-11-30"]  # its week's board is no longer held: nothing to take off
    assert dict(after.boards) == {"alltime": (105, 1), "daily:2026-11-30": (5, 2), "daily:2026-12-01": (5, 3)}
    assert after.mod_offset == 4 and after.offset == 9  # the events' offset is not a command's


def test_a_revert_that_would_leave_the_64_bit_range_is_refused() -> None:
    state = UserState(1, None, {"alltime": (-(2**63), 1)})
    with pytest.raises(ScoreOutOfRange):
        revert_points(state, 1, WHEN, mod_offset=0)


def test_the_owner_index_key_finds_every_user_of_an_event_id_by_prefix() -> None:
    assert owner_key("e-1", "ann").startswith(owner_prefix("e-1"))
    assert not owner_key("e-10", "ann").startswith(owner_prefix("e-1"))  # the separator ends the id


@pytest.mark.parametrize("fields", [
    {"action": "ban"},  # whom?
    {"action": "revert", "user_id": "ann"},  # which event?
    {"action": "ban", "user_id": "a\nb"},  # not a user id
    {"action": "ban", "user_id": "ann", "extra": 1},  # unknown field
    {"action": "ledger", "user_id": "ann", "limit": 0},
])
def test_a_command_must_name_its_target_properly(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ModerationCommand.model_validate({"command_id": "c", "admin_key_id": "ops",
                                          "requested_at": "2026-12-01T00:00:00Z", **fields})


def test_a_revert_on_max_min_and_latest_boards_works_the_score_out_again_from_the_journal() -> None:
    catalog = ActionCatalog({"win_match": 25}, {"lap": ValueRange(min=1, max=10_000)})
    boards = Boards.parse_definitions({
        "best": {"actions": ["lap"], "value": True, "aggregation": "max", "windows": ["alltime"]},
        "fast": {"actions": ["lap"], "value": True, "aggregation": "min", "windows": ["alltime"]},
        "last": {"actions": ["lap"], "value": True, "aggregation": "latest", "windows": ["alltime"]},
        "total": {"actions": ["lap"], "value": True, "windows": ["alltime"]}}, catalog, "test")
    laps = [EventRecord(1, 0, 0, WHEN, "lap", WHEN, None, 300), EventRecord(2, 0, 0, WHEN, "lap", WHEN + 1, None, 900),
            EventRecord(3, 0, 0, WHEN, "lap", WHEN + 2, None, 500)]
    state = UserState(3, None, {"best/alltime": (900, WHEN + 1), "fast/alltime": (300, WHEN),
                                "last/alltime": (500, WHEN + 2), "total/alltime": (1_700, WHEN + 2)})
    after, changed = revert_event(state, laps[1], boards, 7, lambda: laps)  # the best lap is reverted
    assert dict(after.boards) == {"best/alltime": (500, WHEN + 2), "fast/alltime": (300, WHEN),
                                  "last/alltime": (500, WHEN + 2), "total/alltime": (800, WHEN + 2)}
    assert sorted(changed) == ["best/alltime", "total/alltime"]  # the fastest and the latest did not hold it
    marked = [r._replace(reverted_by="c1") if r.offset == 2 else r for r in laps]
    after, _ = revert_event(after, laps[2], boards, 8, lambda: marked)  # then the latest: back to the first
    assert dict(after.boards)["last/alltime"] == (300, WHEN) and dict(after.boards)["best/alltime"] == (300, WHEN)
    after, changed = revert_event(after, laps[0], boards, 9, list)  # no lap left: off those boards
    assert "best/alltime" not in after.boards and "last/alltime" not in after.boards
    assert after.boards["total/alltime"][0] == 0  # a sum board keeps the user at 0
