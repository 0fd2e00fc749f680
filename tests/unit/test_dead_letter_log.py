"""The dead-letter log (stream_app/dlq.py): the first at once, then one line per interval, not one per record."""

from __future__ import annotations

import logging

import pytest

from stream_app.dlq import DeadLetterLog
from stream_app.metrics import dead_letter_kind
from tests.fixtures.clock import FakeClock

pytestmark = pytest.mark.unit


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stream_app.dlq"]


def test_a_flood_of_dead_letters_is_a_few_lines_with_counts_by_kind_and_samples(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    clock = FakeClock(100.0)
    dead = DeadLetterLog(dead_letter_kind, interval_s=10, samples=2, clock=clock)
    for n in range(10_000):
        clock.now += 0.001  # 10 s in all
        dead.add(f"score-events[0]@{n}", "unknown action_id 'fly'" if n % 2 else "value is not JSON")
    dead.flush_due(clock.now + 0.1)
    logged = lines(caplog)
    assert 2 <= len(logged) <= 3  # the first at once, then one summary per 10 s
    assert logged[0] == "dead letter score-events[0]@0: value is not JSON"
    summary = logged[-1]
    assert "more dead letters" in summary and "unknown_action" in summary and "invalid_event" in summary
    assert summary.count("score-events[0]@") == 2  # two samples, not ten thousand


def test_after_a_quiet_interval_the_next_dead_letter_is_said_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = FakeClock(100.0)
    dead = DeadLetterLog(dead_letter_kind, interval_s=10, clock=clock)
    dead.add("a", "value is not JSON")
    clock.now += 11
    dead.flush_due()  # nothing more came: the interval ends quietly
    dead.add("b", "value is not JSON")
    assert lines(caplog) == ["dead letter a: value is not JSON", "dead letter b: value is not JSON"]


def test_a_summary_waits_for_the_end_of_its_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = FakeClock(100.0)
    dead = DeadLetterLog(dead_letter_kind, interval_s=10, clock=clock)
    for where in "abc":
        dead.add(where, "value is not JSON")
    dead.flush_due(clock.now + 5)
    assert len(lines(caplog)) == 1
    dead.flush_due(clock.now + 10)
    assert len(lines(caplog)) == 2 and "2 more dead letters" in lines(caplog)[1]
