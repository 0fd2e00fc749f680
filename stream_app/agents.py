"""The worker's agents and timer, registered explicitly on the app (no autodiscovery).

- ``scoreboard.ingest``: consumes ``score-events`` in batches -> :class:`~stream_app.ingest.Ingestor`,
  whose changes feed stage 1 of the boards (:class:`~stream_app.boards.LocalTopK`).
- ``scoreboard.boards``: consumes ``leaderboard-candidates`` -> stage 2 (:class:`~stream_app.boards.GlobalTopK`).
- ``scoreboard.partitions`` timer: indexes newly assigned partitions from the table (after recovery) and re-sends
  their lists, drops revoked ones, and prunes expired periods.
"""

from __future__ import annotations

import logging
from typing import Any

from stream_app.boards import GlobalTopK, LocalTopK
from stream_app.ingest import Ingestor
from stream_app.settings import WorkerSettings
from stream_app.tables import USER, partition_items

log = logging.getLogger(__name__)

INGEST = "scoreboard.ingest"
BOARDS = "scoreboard.boards"


def register_ingest(app: Any, source: Any, ingestor: Ingestor, settings: WorkerSettings) -> Any:
    within = settings.batch_within_ms / 1000

    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=within):
            try:
                await ingestor.process(list(events))
            except Exception:  # a bug must not pass silently: log loudly, then crash; the batch is redelivered
                log.exception("ingest batch failed; the worker stops and redelivers the batch on restart")
                raise

    return app.agent(source, name=INGEST)(ingest)


def register_boards(app: Any, source: Any, stage2: GlobalTopK, settings: WorkerSettings) -> Any:
    within = settings.batch_within_ms / 1000

    async def boards(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=within):
            await stage2.on_candidates(list(events))

    return app.agent(source, name=BOARDS)(boards)


def register_partition_timer(app: Any, source_topic: str, table: Any, stage1: LocalTopK) -> Any:
    generation = {"id": None}

    async def follow_partitions() -> None:
        if app.rebalancing or app.in_recovery:
            return
        if generation["id"] != app.consumer_generation_id:  # after a rebalance every partition re-sends
            generation["id"] = app.consumer_generation_id
            for partition in list(stage1.indexes):
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
