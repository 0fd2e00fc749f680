"""The worker's Prometheus metrics (:class:`WorkerMetrics`), in its own registry, served at ``GET /metrics`` by
:mod:`stream_app.health` on ``SCOREBOARD_WORKER_WEB_PORT``.

- ``scoreboard_worker_events_total{outcome}``: ``score-events`` records decided, by outcome: ``applied``,
  ``duplicate`` (a client retry, answered as the first time), ``replay`` (applied before a crash, seen again).
  Read from the :class:`~stream_app.ingest.Ingestor`'s counts at each scrape: nothing added to the hot path.
- ``scoreboard_worker_dead_letters_total{kind}``: records sent to ``score-events-dlq``, by kind of reason: the free
  text of ``x-dlq-reason`` mapped to the fixed set :data:`DEAD_LETTER_KINDS` (``other`` for anything unforeseen),
  so the label stays bounded.
- ``scoreboard_worker_batch_size`` and ``scoreboard_worker_apply_duration_seconds`` (histograms): records per fetch
  of ``score-events``, and the time to apply it and hand its changes to stage 1 of the boards.
- ``scoreboard_worker_consumer_lag{topic,partition}``: records of each partition this worker consumes (``score-events``
  and ``leaderboard-candidates``) not fetched yet (high watermark - position), sampled every second by the
  ``scoreboard.lag`` timer (:func:`stream_app.agents.register_lag_timer`), skipped during a rebalance.
- ``scoreboard_worker_board_emissions_total{window}``: boards sent to ``leaderboard-updates`` (coalesced).
- ``process_*`` and ``python_info`` (:func:`schemas.runtime.metrics.service_registry`); no ``_created`` series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from faust.types import TP
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas.runtime.metrics import service_registry

if TYPE_CHECKING:
    from stream_app.ingest import Ingestor

log = logging.getLogger(__name__)

# (words of an ``x-dlq-reason``, its kind); the first match wins. The reasons are written in stream_app.rules,
# stream_app.ingest (idempotency key reused, a record that cannot be applied) and stream_app.scoring (out of range).
DEAD_LETTER_KINDS: tuple[tuple[str, str], ...] = (
    ("empty value (tombstone)", "tombstone"),
    ("value is not", "invalid_event"),
    ("invalid event:", "invalid_event"),
    ("record key must be the user_id", "wrong_key"),
    ("Java's default partitioner", "wrong_partition"),
    ("unknown action_id", "unknown_action"),
    ("timestamp was set by the producer", "producer_timestamp"),
    ("is before 2000", "implausible_time"),
    ("after the broker's time", "too_far_ahead"),
    ("before the oldest period still kept", "too_old"),
    ("period closed", "period_closed"),
    ("outside the signed 64-bit range", "out_of_range"),
    ("idempotency key reused", "idempotency_conflict"),
    ("invalid moderation command", "invalid_command"),
    ("moderation command for user", "wrong_partition"),
)
OTHER = "other"
KINDS = tuple(dict.fromkeys([kind for _, kind in DEAD_LETTER_KINDS] + [OTHER]))
WINDOWS = ("alltime", "daily", "weekly", "monthly")


def dead_letter_kind(reason: str) -> str:
    """The kind of a dead letter's reason (one of :data:`KINDS`)."""
    return next((kind for words, kind in DEAD_LETTER_KINDS if words in reason), OTHER)


class WorkerMetrics:
    """The worker's metrics. ``create_app`` hands its methods to the parts that count, and sets ``ingestor``."""

    def __init__(self) -> None:
        self.registry = service_registry()
        self.ingestor: Ingestor | None = None
        self.lag: dict[TP, int] = {}  # replaced whole by each sample of the lag timer
        self.dead_letters = Counter(
            "scoreboard_worker_dead_letters", "records sent to score-events-dlq, by kind of reason",
            ["kind"], registry=self.registry,
        )
        self.batch_size = Histogram(
            "scoreboard_worker_batch_size", "records per fetch of score-events (at most SCOREBOARD_BATCH_MAX)",
            registry=self.registry, buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000),
        )
        self.apply_seconds = Histogram(
            "scoreboard_worker_apply_duration_seconds",
            "time to apply one fetch of score-events and hand its changes to the boards", registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.emissions = Counter(
            "scoreboard_worker_board_emissions", "boards sent to leaderboard-updates, by window",
            ["window"], registry=self.registry,
        )
        for kind in KINDS:  # every series exists from the start (at 0): rates and alerts need no special case
            self.dead_letters.labels(kind)
        for window in WINDOWS:
            self.emissions.labels(window)
        self.registry.register(_Sampled(self))

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(dead_letter_kind(reason)).inc()

    def batch_applied(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.apply_seconds.observe(seconds)

    def board_emitted(self, board: str) -> None:
        window = board.rpartition("/")[2].partition(":")[0]  # global's ``daily:…``, another board's ``b/daily:…``
        self.emissions.labels(window if window in WINDOWS else "alltime").inc()


async def consumer_lag(consumer: Any, tps: Iterable[TP]) -> dict[TP, int]:
    """Records not fetched yet per partition (high watermark - position); a partition is left out until its first
    fetch answers, or if the consumer cannot tell now (it was just revoked)."""
    lag: dict[TP, int] = {}
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await consumer.position(tp)
        except Exception as exc:  # a partition revoked under us: the next sample goes without it
            log.debug("consumer lag: no position for %s: %r", tp, exc)
            continue
        if position is not None:
            lag[tp] = max(0, highwater - position)
    return lag


class _Sampled(Collector):
    """The series read at scrape time: the ingestor's counts and the last lag sample."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily("scoreboard_worker_events", "score-events records decided, by outcome",
                                     labels=["outcome"])
        ingestor = self.metrics.ingestor
        if ingestor is not None:
            for outcome, count in (("applied", ingestor.applied), ("duplicate", ingestor.duplicates),
                                   ("replay", ingestor.replays)):
                events.add_metric([outcome], count)
        yield events
        lag = GaugeMetricFamily("scoreboard_worker_consumer_lag",
                                "records of a consumed partition not fetched yet (high watermark - position)",
                                labels=["topic", "partition"])
        for tp, records in sorted(self.metrics.lag.items()):
            lag.add_metric([tp.topic, str(tp.partition)], records)
        yield lag
