"""``scoreboard-worker`` / ``python -m stream_app``: create the topics if missing, then run the Faust worker.

``GET /readyz`` on ``SCOREBOARD_WORKER_WEB_PORT`` answers 200 once table recovery is complete and the worker is
processing (and logs ``worker: ready`` for people); ``GET /metrics`` there serves Prometheus (stream_app.metrics).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any

import faust
from pydantic import ValidationError

from schemas.catalog import ActionCatalog, CatalogError
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import contract_topics
from stream_app.app import create_app
from stream_app.health import HealthServer, Readiness
from stream_app.settings import WorkerSettings

log = logging.getLogger("stream_app")


class ScoreboardWorker(faust.Worker):
    readiness: Readiness | None = None

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        # Everything built so far (Faust, the app, recovered indexes) lives as long as the process: move it out of
        # the collector's reach, so full collections stop walking it. Measured: 200-after-apply style latency
        # (produce -> score-applied at 400 ev/s) p99 ~120 ms -> ~60 ms, the tail being full GC passes.
        gc.collect()
        gc.freeze()
        if self.readiness is not None:
            self.readiness.started = True  # GET /readyz answers 200 from now on (unless rebalancing)
        log.info("worker: ready (partitions assigned, tables recovered)")


def main() -> int:
    try:
        settings = WorkerSettings()
        catalog = ActionCatalog.load(settings.actions_file)
    except (ValidationError, CatalogError) as exc:
        print(f"stream_app: configuration error: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    specs = contract_topics(settings.topics, settings.partitions, settings.audit_retention_ms,
                            settings.replication_factor)
    loop.run_until_complete(ensure_topics(settings.kafka_bootstrap_servers, specs, settings.kafka_connect_timeout))
    worker: Any = create_app(settings, catalog)
    if settings.web_enabled:  # /healthz, /readyz and /metrics, served on this loop from before the worker starts
        server = HealthServer(worker.readiness, worker.metrics.registry, settings.web_host, settings.web_port)
        loop.run_until_complete(server.start())
    runner = ScoreboardWorker(worker.app, loop=loop, loglevel=settings.log_level, redirect_stdouts=False)
    runner.readiness = worker.readiness
    runner.execute_from_commandline()  # handles SIGINT/SIGTERM: stops cleanly, commits offsets
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
