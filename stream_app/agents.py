"""The worker's batch agents and timer, registered explicitly on the app (no autodiscovery).

- ingest: ``score-events`` in batches (one per fetch, :mod:`stream_app.faust_internals.batch_consumer`) ->
  :class:`~stream_app.ingest.Ingestor`, whose changes feed stage 1 of the boards
  (:class:`~stream_app.ranking.LocalTopK`).
- moderation: ``moderation`` in batches -> :class:`~stream_app.moderator.Moderator` (bans, unbans, reverts,
  ledgers), whose changes feed stage 1 too.
- boards: ``leaderboard-candidates`` in batches -> stage 2 (:class:`~stream_app.ranking.GlobalTopK`).
- ``scoreboard.partitions`` timer: indexes newly assigned partitions from the table (after recovery) and re-sends
  their lists, drops revoked ones, prunes expired periods, moves the watermark of partitions with nothing left
  to apply, and flushes the lists waiting for their count round (:mod:`stream_app.count_rounds`).
- ``scoreboard.periods`` timer: when a day or week begins, stage 2's owner emits its empty board at once; it also
  seals the periods that are due and removes boards past the retention (:mod:`stream_app.seal`).
- ``scoreboard.lag`` timer: samples the consumer lag of each partition for ``/metrics`` (:mod:`stream_app.metrics`).

The two batch agents are coroutines on Faust's consumer rather than ``@app.agent`` streams: Faust's per-message
stream path was the worker's ceiling (see :mod:`stream_app.faust_internals.batch_consumer`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from faust.types import TP

from stream_app.backfill import BoardFill
from stream_app.faust_internals.batch_consumer import BatchHandler, register_batch_handler
from stream_app.ingest import Ingestor
from stream_app.metrics import WorkerMetrics, consumer_lag
from stream_app.moderator import Moderator
from stream_app.ranking import GlobalTopK, LocalTopK
from stream_app.seal import IDLE_MARGIN_MS, PeriodSeal
from stream_app.tables import USER, partition_items

log = logging.getLogger(__name__)


def register_ingest(app: Any, handlers: dict[str, BatchHandler], source: Any, ingestor: Ingestor,
                    stage1: LocalTopK, metrics: WorkerMetrics) -> BatchHandler:
    """Each fetch of ``score-events``: applied by the ingestor, then the users it changed go to stage 1."""

    async def apply_and_rank(messages: list[Any]) -> None:
        stage1.busy += 1
        started = time.perf_counter()
        try:
            async with ingestor.lock:  # never beside a chunk of a board's fill (stream_app.backfill)
                changes = await ingestor.process(messages)
                stage1.handled(messages)  # the partitions' watermarks move (stream_app.seal)
            await stage1.on_changes(changes)
        finally:
            stage1.busy -= 1
        metrics.batch_applied(len(messages), time.perf_counter() - started)

    register_batch_handler(app, handlers, source, apply_and_rank)
    return apply_and_rank


def register_moderation(app: Any, handlers: dict[str, BatchHandler], source: Any, moderator: Moderator,
                        stage1: LocalTopK, lock: asyncio.Lock) -> BatchHandler:
    """Each fetch of ``moderation``: applied by the moderator (between two batches of events, never inside one),
    then the users it changed (banned, unbanned, reverted) go to stage 1."""

    async def moderate_and_rank(messages: list[Any]) -> None:
        stage1.busy += 1
        try:
            async with lock:
                changes = await moderator.process(messages)
            await stage1.on_changes(changes)
        finally:
            stage1.busy -= 1

    register_batch_handler(app, handlers, source, moderate_and_rank)
    return moderate_and_rank


def register_boards(app: Any, handlers: dict[str, BatchHandler], source: Any, stage2: GlobalTopK) -> None:
    register_batch_handler(app, handlers, source, stage2.on_candidates)


def register_partition_timer(app: Any, source_topic: str, table: Any, stage1: LocalTopK) -> Any:
    async def follow_partitions() -> None:
        if app.rebalancing or app.in_recovery:
            return
        if stage1.counts.ready():  # count-only lists wait for their round; no later change may come to send them
            await stage1.coalescer.offer(None)
        for partition in stage1.stale():  # after a rebalance every partition is indexed again and re-sends
            stage1.drop(partition)
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source_topic}
        for partition in set(stage1.indexes) - owned:
            stage1.drop(partition)
        for partition in sorted(owned - set(stage1.indexes)):
            stage1.rebuild(partition, partition_items(table, partition, USER))
            log.info("boards: indexed partition %d (%s)", partition,
                     {b: len(i) for b, i in stage1.indexes[partition].items()})
            await stage1.resend(partition)
        stage1.prune_expired()
        now_ms = int(time.time() * 1000) - IDLE_MARGIN_MS  # read before asking: the broker stamps later records later
        for partition in sorted(owned & set(stage1.indexes)):
            try:
                if not stage1.busy and await app.consumer.caught_up(TP(source_topic, partition)):
                    await stage1.idle(partition, now_ms)
            except Exception:  # a watermark late by a tick seals a period a tick later; never the worker's end
                log.exception("boards: could not tell whether partition %d is caught up", partition)

    return app.timer(interval=0.5, name="scoreboard.partitions")(follow_partitions)


def register_period_timer(app: Any, stage2: GlobalTopK, seal: PeriodSeal, interval: float = 1.0) -> Any:
    async def open_and_seal_periods() -> None:
        if app.rebalancing or app.in_recovery:
            return
        now = datetime.now(UTC)
        await stage2.open_periods(now)
        await seal.tick(now)

    return app.timer(interval=interval, name="scoreboard.periods")(open_and_seal_periods)


def register_lag_timer(app: Any, topics: set[str], metrics: WorkerMetrics, interval: float = 1.0) -> Any:
    """Every ``interval``: the lag of each partition of ``topics`` this worker owns, for ``/metrics``."""

    async def sample_lag() -> None:
        if app.rebalancing or app.in_recovery:
            return  # the assignment is moving: keep the last sample
        owned = [tp for tp in app.assignor.assigned_actives() if tp.topic in topics]
        metrics.lag = await consumer_lag(app.consumer, owned)

    return app.timer(interval=interval, name="scoreboard.lag")(sample_lag)


def register_fill_timer(app: Any, source_topic: str, fill: BoardFill, stage1: LocalTopK,
                        interval: float = 0.5) -> Any:
    """Boards not live in a partition this worker owns are filled from the audit log, a chunk at a time between
    batches (:mod:`stream_app.backfill`); the users a chunk changed go to stage 1."""

    async def fill_boards() -> None:
        if app.rebalancing or app.in_recovery:
            return
        owned = [tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source_topic]
        try:
            await fill.tick(owned, still=lambda: not (app.rebalancing or app.in_recovery))
        except Exception:  # a rebalance under a chunk, a broker away: the markers say where the next tick resumes
            log.exception("boards: filling stopped for now; it resumes from its markers")
        changes = fill.take_changes()
        if changes:
            await stage1.on_changes(changes)

    return app.timer(interval=interval, name="scoreboard.fill")(fill_boards)
