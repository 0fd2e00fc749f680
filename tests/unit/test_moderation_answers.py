"""The HTTP answer of each admin request from the stream worker's answers (``producer_api.moderation_answers``):
every case of the public contract's revert and ledger answers, without a broker or a worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from producer_api.moderation_answers import (
    accepted,
    ledger_answer,
    ledger_timeout,
    not_written,
    revert_answer,
    revert_timeout,
    unknown,
)
from schemas.moderation import LedgerEntry, ModerationCommand, ModerationResult, Status

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
REVERT = ModerationCommand(command_id="c1", action="revert", event_id="idem-e1", reason="cheat", admin_key_id="ops",
                           requested_at=NOW)
LEDGER = ModerationCommand(command_id="c2", action="ledger", user_id="u-1", window="daily", period="2026-12-01",
                           limit=100, admin_key_id="ops", requested_at=NOW)
ALL = (0, 1, 2)


def result(partition: int, status: Status, command_id: str = "c1", **fields: Any) -> ModerationResult:
    return ModerationResult(command_id=command_id, partition=partition, status=status, **fields)


def test_a_revert_applied_by_one_partition_is_202_reverted_at_once() -> None:
    answer = revert_answer(REVERT, [result(1, "applied", user_id="u-1", event_id="idem-e1", points=25)], ALL, 90)
    assert answer is not None
    assert (answer.status, answer.outcome) == (202, "reverted")
    assert answer.body == {"status": "reverted", "event_id": "idem-e1", "user_id": "u-1", "points": 25,
                           "command_id": "c1"}


def test_a_repeat_is_200_already_reverted() -> None:
    found = [result(0, "not_here"), result(2, "already_reverted", user_id="u-1", points=25)]
    answer = revert_answer(REVERT, found, ALL, 90)
    assert answer is not None and answer.status == 200
    assert answer.body == {"status": "already_reverted", "event_id": "idem-e1", "user_id": "u-1", "points": 25,
                           "command_id": "c1"}


def test_past_the_horizon_is_410_naming_it() -> None:
    answer = revert_answer(REVERT, [result(2, "expired")], ALL, 30)
    assert answer is not None and answer.status == 410
    assert "SCOREBOARD_REVERT_DAYS=30" in answer.body["detail"] and answer.body["event_id"] == "idem-e1"


def test_a_refusal_is_422_with_the_workers_reason() -> None:
    answer = revert_answer(REVERT, [result(0, "refused", detail="malformed command")], ALL, 90)
    assert answer is not None and (answer.status, answer.body["detail"]) == (422, "malformed command")


def test_not_found_only_once_every_partition_written_to_answered() -> None:
    some = [result(0, "not_here"), result(1, "not_found")]
    assert revert_answer(REVERT, some, ALL, 90) is None  # partition 2 may still hold it
    answer = revert_answer(REVERT, [*some, result(2, "not_here")], ALL, 90)
    assert answer is not None and (answer.status, answer.outcome) == (404, "not_found")
    assert answer.body["event_id"] == "idem-e1" and answer.body["command_id"] == "c1"


def test_a_decisive_answer_wins_over_the_others_and_other_commands_answers_are_ignored() -> None:
    found = [result(0, "not_here"), result(1, "applied", points=5), result(2, "not_here")]
    answer = revert_answer(REVERT, found, ALL, 90)
    assert answer is not None and answer.status == 202
    others = [result(p, "applied", command_id="other") for p in ALL]
    assert revert_answer(REVERT, others, ALL, 90) is None


def test_no_decision_in_time_is_202_accepted() -> None:
    answer = revert_timeout(REVERT, 5000)
    assert (answer.status, answer.body["status"], answer.body["command_id"]) == (202, "accepted", "c1")
    assert answer.body["event_id"] == "idem-e1" and "5000 ms" in answer.body["detail"]


def test_the_ledger_is_the_owning_partitions_events_newest_first() -> None:
    entries = [LedgerEntry(event_id=f"e{i}", action_id="win_match", points=25, occurred_at=NOW, reverted=i == 1)
               for i in (2, 1)]
    assert ledger_answer(LEDGER, [result(0, "not_here", "c2")]) is None
    answer = ledger_answer(LEDGER, [result(1, "applied", "c2", events=entries)])
    assert answer is not None and answer.status == 200
    assert answer.body == {"user_id": "u-1", "board": "global", "window": "daily", "period": "2026-12-01", "data": [
        {"event_id": "e2", "action_id": "win_match", "points": 25, "occurred_at": "2026-12-01T12:00:00Z",
         "reverted": False},
        {"event_id": "e1", "action_id": "win_match", "points": 25, "occurred_at": "2026-12-01T12:00:00Z",
         "reverted": True}]}
    empty = ledger_answer(LEDGER, [result(1, "unchanged", "c2")])
    assert empty is not None and empty.body["data"] == []


@pytest.mark.parametrize(("status", "code"), [("not_found", 404), ("expired", 410), ("refused", 422)])
def test_the_ledger_passes_on_the_workers_refusals(status: Status, code: int) -> None:
    answer = ledger_answer(LEDGER, [result(1, status, "c2", detail="why")])
    assert answer is not None and (answer.status, answer.body) == (code, {"detail": "why", "command_id": "c2"})


def test_a_ledger_without_answer_in_time_is_504() -> None:
    answer = ledger_timeout(LEDGER, 5000)
    assert answer.status == 504 and "SCOREBOARD_MODERATION_TIMEOUT_MS" in answer.body["detail"]


def test_ban_and_write_failures() -> None:
    ban = ModerationCommand(command_id="c3", action="ban", user_id="u-1", reason="x", admin_key_id="ops",
                            requested_at=NOW)
    assert (accepted(ban).status, accepted(ban).body) == (202, {"status": "accepted", "command_id": "c3"})
    assert (not_written(ban).status, not_written(ban).body["status"]) == (503, "not_written")
    assert not_written(ban).headers == {"Retry-After": "1"}
    assert (unknown(ban).status, unknown(ban).body["status"]) == (504, "unknown")
