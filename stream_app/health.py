"""The worker's own HTTP endpoint: ``GET /healthz`` (liveness), ``GET /readyz`` (readiness) and ``GET /metrics``
(Prometheus, :mod:`stream_app.metrics`), nothing else.

Readiness is defined here, once: the worker has started (partitions assigned, tables recovered from their
changelogs) and is not in a rebalance or a recovery now. ``make run``, the tests, the bench, the Docker
healthcheck and the Kubernetes probes all ask this endpoint instead of grepping a log line. Faust's own web server
stays off: it would serve every table's contents to anyone who can reach the port.

Served with aiohttp (already under Faust) on ``SCOREBOARD_WORKER_WEB_HOST``/``_PORT``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class Readiness:
    """Whether the worker is ready now: started, and not rebalancing or recovering."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = False

    def state(self) -> str:
        if not self.started:
            return "starting"
        if self.app.rebalancing or self.app.in_recovery:
            return "rebalancing"
        return "ready"


def create_health_app(readiness: Readiness, registry: CollectorRegistry) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        state = readiness.state()
        return web.json_response({"status": state}, status=200 if state == "ready" else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


class HealthServer:
    def __init__(self, readiness: Readiness, registry: CollectorRegistry, host: str, port: int) -> None:
        self.runner = web.AppRunner(create_health_app(readiness, registry), access_log=None)
        self.host, self.port = host, port

    async def start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()
        log.info("worker: health endpoint on http://%s:%d (/healthz, /readyz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        await self.runner.cleanup()
