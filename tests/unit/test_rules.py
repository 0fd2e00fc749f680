"""The rules a ``score-events`` record must pass before the worker applies it (each failure is a dead letter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pytest

from schemas.catalog import ActionCatalog
from stream_app.rules import DAY_MS, LOG_APPEND_TIME, Accepted, RecordRules, Refusal

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
PARTITIONS = 3


class Record(NamedTuple):
    """The fields of a consumed record the rules read (a Faust message has these)."""

    key: bytes | None
    value: bytes | None
    partition: int
    timestamp: float
    timestamp_type: int = LOG_APPEND_TIME
    topic: str = "score-events"
    offset: int = 0


def rules(retention_days: int = 7, grace_s: int = 300) -> RecordRules:
    return RecordRules(ActionCatalog({"win_match": 25}), retention_days * DAY_MS, grace_s * 1000)


def record(value: Any, key: bytes | None = None, partition: int | None = None, **fields: Any) -> Record:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    if key is None and isinstance(value, dict):
        key = str(value.get("user_id", "")).encode()
    owner = rules().owner(key or b"", PARTITIONS)
    return Record(key, raw, owner if partition is None else partition, NOW.timestamp(), **fields)


def event(**fields: Any) -> dict[str, Any]:
    return {"user_id": "p1", "action_id": "win_match", **fields}


@pytest.mark.parametrize(
    ("rec", "reason"),
    [
        (record(None, key=b"u"), "empty value"),
        (record(b"{", key=b"u"), "not JSON"),
        (record(b"[1]", key=b"u"), "not a JSON object"),
        (record({"user_id": "u"}), "invalid event: action_id"),
        (record(event(), key=b"x"), "record key"),
        (record(event(action_id="nope")), "unknown action_id"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(rec: Record, reason: str) -> None:
    result = rules().check(rec, PARTITIONS)
    assert isinstance(result, Refusal) and reason in result.reason


def test_a_valid_record_is_accepted_with_the_broker_time_as_now() -> None:
    result = rules().check(record(event()), PARTITIONS)
    assert isinstance(result, Accepted)
    assert result.points == 25 and result.now_ms == result.at_ms == int(NOW.timestamp() * 1000)


def test_a_record_outside_the_partition_that_owns_its_key_is_refused_naming_the_fix() -> None:
    good = record(event())
    wrong = good._replace(partition=(good.partition + 1) % PARTITIONS)
    refusal = rules().check(wrong, PARTITIONS)
    assert isinstance(refusal, Refusal) and "murmur2" in refusal.reason
    assert f"partition {good.partition} of 3" in refusal.reason


def test_a_producer_set_timestamp_is_refused() -> None:
    refusal = rules().check(record(event(), timestamp_type=0), PARTITIONS)
    assert isinstance(refusal, Refusal) and "LogAppendTime" in refusal.reason


@pytest.mark.parametrize(
    "occurred_at",
    [
        "9999-12-31T23:59:59Z",  # the record: OverflowError in the period arithmetic before
        "9999-12-31T23:59:59-01:00",  # beyond datetime.max once in UTC
        (NOW + timedelta(seconds=301)).isoformat(),  # just past the skew
        "2100-01-01T00:00:00Z",
    ],
)
def test_occurred_at_too_far_ahead_is_refused(occurred_at: str) -> None:
    refusal = rules().check(record(event(occurred_at=occurred_at, event_id="e-1")), PARTITIONS)
    assert isinstance(refusal, Refusal) and "after the broker's time" in refusal.reason
    assert refusal.event_id == "e-1"  # the write API answers the waiting request by it


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                    "1999-12-31T23:59:59.999Z"],
)
def test_occurred_at_before_2000_is_refused_as_implausible(occurred_at: str) -> None:
    refusal = rules(retention_days=100_000, grace_s=30 * 86_400).check(record(event(occurred_at=occurred_at)),
                                                                         PARTITIONS)
    assert isinstance(refusal, Refusal) and "before 2000" in refusal.reason


def test_occurred_at_before_the_oldest_period_kept_is_refused() -> None:
    old = (NOW - timedelta(days=9)).isoformat()
    refusal = rules(grace_s=30 * 86_400).check(record(event(occurred_at=old)), PARTITIONS)
    assert isinstance(refusal, Refusal) and "oldest period still kept" in refusal.reason


def test_a_period_is_sealed_at_its_end_plus_the_grace() -> None:
    midnight = NOW.replace(hour=0)  # the record arrives at NOW (12:00); yesterday ended at midnight
    yesterday = (midnight - timedelta(minutes=1)).isoformat()
    late = rules(grace_s=12 * 3600 - 1).check(record(event(occurred_at=yesterday)), PARTITIONS)
    assert isinstance(late, Refusal) and "period closed" in late.reason and "daily:2026-11-25" in late.reason
    assert isinstance(rules(grace_s=12 * 3600 + 1).check(record(event(occurred_at=yesterday)), PARTITIONS), Accepted)
    today = midnight.isoformat()  # the current day is open, whatever the grace
    assert isinstance(rules(grace_s=0).check(record(event(occurred_at=today)), PARTITIONS), Accepted)


def test_the_future_bound_is_the_grace() -> None:
    ahead = NOW + timedelta(seconds=300)
    assert isinstance(rules().check(record(event(occurred_at=ahead.isoformat())), PARTITIONS), Accepted)
    beyond = NOW + timedelta(seconds=301)
    assert isinstance(rules().check(record(event(occurred_at=beyond.isoformat())), PARTITIONS), Refusal)
