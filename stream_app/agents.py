"""The worker's agents, registered explicitly on the app (no autodiscovery).

``ingest`` consumes ``score-events`` in batches and hands them to :class:`~stream_app.ingest.Ingestor`.
"""

from __future__ import annotations

import logging
from typing import Any

from stream_app.ingest import Ingestor
from stream_app.settings import WorkerSettings

log = logging.getLogger(__name__)

INGEST = "scoreboard.ingest"


def register_ingest(app: Any, source: Any, ingestor: Ingestor, settings: WorkerSettings) -> Any:
    within = settings.batch_within_ms / 1000

    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=within):
            try:
                await ingestor.process(list(events))
            except Exception:  # a bug must not stop the stream silently: log loudly, then crash the worker
                log.exception("ingest batch failed; the worker stops and redelivers the batch on restart")
                raise

    return app.agent(source, name=INGEST)(ingest)
