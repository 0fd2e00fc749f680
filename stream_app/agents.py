"""The worker's batch agents and timer, registered explicitly on the app (no autodiscovery).

- ingest: ``score-events`` in batches (one per fetch, :mod:`stream_app.faust_internals.batch_consumer`) ->
  :class:`~stream_app.ingest.Ingestor`, whose changes feed stage 1 of the boards
  (:class:`~stream_app.ranking.LocalTopK`).
- boards: ``leaderboard-candidates`` in batches -> stage 2 (:class:`~stream_app.ranking.GlobalTopK`).
- ``scoreboard.partitions`` timer: indexes newly assigned partitions from the table (after recovery) and re-sends
  their lists, drops revoked ones, and prunes expired periods.
- ``scoreboard.periods`` timer: when a day or week begins, stage 2's owner emits its empty board at once.

The two batch agents are coroutines on Faust's consumer rather than ``@app.agent`` streams: Faust's per-message
stream path was the worker's ceiling (see :mod:`stream_app.faust_internals.batch_consumer`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from stream_app.faust_internals.batch_consumer import BatchHandler, register_batch_handler
from stream_app.ingest import Ingestor
from stream_app.ranking import GlobalTopK, LocalTopK
from stream_app.tables import USER, partition_items

log = logging.getLogger(__name__)


def register_ingest(app: Any, handlers: dict[str, BatchHandler], source: Any, ingestor: Ingestor,
                    stage1: LocalTopK) -> BatchHandler:
    """Each fetch of ``score-events``: applied by the ingestor, then the users it changed go to stage 1."""

    async def apply_and_rank(messages: list[Any]) -> None:
        changes = await ingestor.process(messages)
        if changes:
            await stage1.on_changes(changes)

    register_batch_handler(app, handlers, source, apply_and_rank)
    return apply_and_rank


def register_boards(app: Any, handlers: dict[str, BatchHandler], source: Any, stage2: GlobalTopK) -> None:
    register_batch_handler(app, handlers, source, stage2.on_candidates)


def register_partition_timer(app: Any, source_topic: str, table: Any, stage1: LocalTopK) -> Any:
    async def follow_partitions() -> None:
        if app.rebalancing or app.in_recovery:
            return
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

    return app.timer(interval=0.5, name="scoreboard.partitions")(follow_partitions)


def register_period_timer(app: Any, stage2: GlobalTopK, interval: float = 1.0) -> Any:
    async def open_periods() -> None:
        if app.rebalancing or app.in_recovery:
            return
        await stage2.open_periods(datetime.now(UTC))

    return app.timer(interval=interval, name="scoreboard.periods")(open_periods)
