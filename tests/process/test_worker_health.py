"""The worker's health endpoint (no broker needed): one definition of ready, and no table contents on the port."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from stream_app.health import HealthServer, Readiness
from stream_app.metrics import WorkerMetrics
from tools.kafka_local import free_port

pytestmark = pytest.mark.process


async def test_readyz_is_200_only_once_started_and_while_no_rebalance_runs() -> None:
    app = SimpleNamespace(rebalancing=False, in_recovery=False)
    readiness = Readiness(app)
    port = free_port()
    server = HealthServer(readiness, WorkerMetrics().registry, "127.0.0.1", port)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            starting = await client.get("/readyz")
            assert (starting.status_code, starting.json()) == (503, {"status": "starting"})
            readiness.started = True
            assert (await client.get("/readyz")).status_code == 200
            app.rebalancing = True
            rebalancing = await client.get("/readyz")
            assert (rebalancing.status_code, rebalancing.json()) == (503, {"status": "rebalancing"})
            app.rebalancing, app.in_recovery = False, True
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/table/state")).status_code == 404  # no table contents, ever
    finally:
        await server.stop()
