"""Prometheus metrics of every service: each registry has the process metrics and no ``_created`` series, and the
worker maps every dead-letter reason it writes to a kind of a fixed set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from producer_api.metrics import ApiMetrics
from schemas.catalog import ActionCatalog
from sse_server.metrics import SseMetrics
from stream_app.metrics import KINDS, OTHER, WorkerMetrics, consumer_lag, dead_letter_kind
from stream_app.rules import DAY_MS, LOG_APPEND_TIME, RecordRules, Refusal
from stream_app.scoring import ALLTIME, SCORE_MAX, ScoreOutOfRange, UserState, apply_event

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
PARTITIONS = 3
RULES = RecordRules(ActionCatalog({"win_match": 25}), 7 * DAY_MS, 300_000)


class Record(NamedTuple):
    key: bytes | None
    value: bytes | None
    partition: int
    timestamp: float = NOW.timestamp()
    timestamp_type: int = LOG_APPEND_TIME
    topic: str = "score-events"
    offset: int = 0


def record(value: bytes | None, key: bytes = b"p1", partition: int | None = None, **fields: Any) -> Record:
    return Record(key, value, RULES.owner(key, PARTITIONS) if partition is None else partition, **fields)


def ev(**fields: Any) -> bytes:
    return orjson.dumps({"user_id": "p1", "action_id": "win_match", **fields})


def registries() -> dict[str, CollectorRegistry]:
    """Each service's registry, with one of its counters moved (a counter is what would carry ``_created``)."""
    api, sse, worker = ApiMetrics(), SseMetrics(), WorkerMetrics()
    api.record("/scores", "POST", 200, 0.01)
    sse.events_sent.labels("alltime").inc()
    worker.dead_letter("value is not JSON")
    worker.batch_applied(3, 0.002)
    return {"api": api.registry, "sse": sse.registry, "worker": worker.registry}


@pytest.mark.parametrize("service", ["api", "sse", "worker"])
def test_every_registry_has_process_metrics_and_no_created_series(service: str) -> None:
    text = generate_latest(registries()[service]).decode()
    assert "process_cpu_seconds_total " in text
    assert "process_resident_memory_bytes " in text
    assert "python_info{" in text
    assert "_created" not in text


@pytest.mark.parametrize(
    ("rec", "kind"),
    [
        (record(None), "tombstone"),
        (record(b"\xff not json"), "invalid_event"),
        (record(b"[1, 2]"), "invalid_event"),
        (record(ev(username="bad\u0007name")), "invalid_event"),
        (record(ev(), key=b"someone-else"), "wrong_key"),
        (record(ev(), partition=(RULES.owner(b"p1", PARTITIONS) + 1) % PARTITIONS), "wrong_partition"),
        (record(ev(action_id="no_such_action")), "unknown_action"),
        (record(ev(), timestamp_type=0), "producer_timestamp"),
        (record(ev(occurred_at="1970-01-01T00:00:00Z")), "implausible_time"),
        (record(ev(occurred_at="9999-12-31T23:59:59Z")), "too_far_ahead"),
        (record(ev(occurred_at=(NOW - timedelta(days=30)).isoformat())), "too_old"),
        (record(ev(occurred_at=(NOW - timedelta(days=2)).isoformat())), "period_closed"),
    ],
)
def test_each_rule_refusal_maps_to_its_kind(rec: Record, kind: str) -> None:
    refused = RULES.check(rec, PARTITIONS)
    assert isinstance(refused, Refusal)
    assert dead_letter_kind(refused.reason) == kind


def test_the_reasons_decided_from_the_state_map_to_their_kinds() -> None:
    with pytest.raises(ScoreOutOfRange) as exc:
        boards = RULES.boards
        apply_event(UserState(boards={ALLTIME: (SCORE_MAX, 0)}), counting=((boards.get("global"), 1),),
                    boards=boards, offset=1, at_ms=int(NOW.timestamp() * 1000), username=None, now=NOW,
                    retention=timedelta(days=7))
    assert dead_letter_kind(str(exc.value)) == "out_of_range"
    reused = ("idempotency key reused for user 'u' with another action_id ('a' first, now 'b'); "
              "use a new Idempotency-Key")  # stream_app.ingest
    assert dead_letter_kind(reused) == "idempotency_conflict"
    assert dead_letter_kind("cannot be applied: KeyError('x')") == OTHER


def test_dead_letters_count_by_kind_and_every_kind_is_there_from_the_start() -> None:
    metrics = WorkerMetrics()
    metrics.dead_letter("unknown action_id 'fly'")
    metrics.dead_letter("unknown action_id 'swim'")
    metrics.dead_letter("something nobody foresaw")
    text = generate_latest(metrics.registry).decode()
    assert 'scoreboard_worker_dead_letters_total{kind="unknown_action"} 2.0' in text
    assert 'scoreboard_worker_dead_letters_total{kind="other"} 1.0' in text
    for kind in KINDS:
        assert f'scoreboard_worker_dead_letters_total{{kind="{kind}"}}' in text


def test_board_emissions_count_by_window() -> None:
    metrics = WorkerMetrics()
    for board in ("alltime", "daily:2026-11-26", "daily:2026-11-27", "weekly:2026-W48"):
        metrics.board_emitted(board)
    text = generate_latest(metrics.registry).decode()
    assert 'scoreboard_worker_board_emissions_total{window="daily"} 2.0' in text
    assert 'scoreboard_worker_board_emissions_total{window="alltime"} 1.0' in text
    assert 'scoreboard_worker_board_emissions_total{window="weekly"} 1.0' in text


class FakeConsumer:
    """Partition 0 fetched (highwater 10, position 7), 1 not fetched yet, 2 revoked under the sampler."""

    def highwater(self, tp: TP) -> int | None:
        return None if tp.partition == 1 else 10

    async def position(self, tp: TP) -> int:
        if tp.partition == 2:
            raise RuntimeError("partition is not assigned")
        return 7


async def test_consumer_lag_is_highwater_minus_position_for_the_partitions_that_can_tell() -> None:
    metrics = WorkerMetrics()
    metrics.lag = await consumer_lag(FakeConsumer(), [TP("score-events", p) for p in range(3)])
    text = generate_latest(metrics.registry).decode()
    assert 'scoreboard_worker_consumer_lag{partition="0",topic="score-events"} 3.0' in text
    assert 'partition="1"' not in text and 'partition="2"' not in text
