"""The write API and an unreliable broker: started before Kafka it waits; Kafka gone, it answers 503, not 500,
and still shuts down cleanly.

Uses a private broker (not the session one), because this test starts it late and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import httpx
import pytest

from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tests.fixtures.api import KEY1, KEYS
from tests.fixtures.kafka import Topics
from tests.fixtures.services import ServiceProcess, base_env
from tools.kafka_local import LocalKafka, free_port

pytestmark = pytest.mark.integration

BODY = b'{"user_id": "u1", "action_id": "win_match"}'
HEADERS = {"content-type": "application/json", "x-api-key": KEY1}


async def wait_for_log(process: ServiceProcess, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.output():
        assert process.proc is None or process.proc.poll() is None, process.output()[-3000:]
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s"
        await asyncio.sleep(0.2)


async def wait_for_process(process: ServiceProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while process.proc is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def test_api_waits_for_a_late_broker_then_answers_503_when_it_goes(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka", heap="384M")
    topics = Topics("late-", TopicNames.with_prefix("late-"), 1)
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_API_KEYS=KEYS, SCOREBOARD_API_PORT=str(port),
                   SCOREBOARD_KAFKA_CONNECT_TIMEOUT="180", SCOREBOARD_PRODUCE_TIMEOUT_MS="3000",
                   SCOREBOARD_REPLY_TIMEOUT_MS="200")
    url = f"http://127.0.0.1:{port}"
    api = ServiceProcess("producer_api", env, tmp_path / "api.log", ready_url=f"{url}/readyz")
    starting = asyncio.create_task(asyncio.to_thread(api.start, 240.0))
    try:
        await wait_for_log(api, "broker not reachable yet")  # the API is up before the broker
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap, contract_topics(topics.names, 1))
        await starting  # ready (GET /readyz 200) once the broker and its topics exist

        async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
            assert (await client.post("/scores", content=BODY, headers=HEADERS)).status_code == 202
            await asyncio.to_thread(broker.stop)
            failed = await client.post("/scores", content=BODY, headers={**HEADERS, "idempotency-key": "order-9"})
            assert failed.status_code == 503
            assert failed.json() == {"detail": "event log unavailable, retry"}
            assert failed.headers["idempotency-key"] == "order-9"  # what the client retries with
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            assert "scoreboard_api_produce_errors_total 1.0" in (await client.get("/metrics")).text
        api.stop()  # SIGTERM; a SIGKILL would follow after 30 s
        assert "Application shutdown complete" in api.output()  # clean and bounded, even with the broker gone
        assert api.proc is not None and api.proc.returncode == -signal.SIGTERM  # uvicorn re-raises the signal
    finally:
        broker.stop()
        if not starting.done():  # the API never got ready: make its start fail fast, then collect it
            await wait_for_process(api)
        api.stop()
        with contextlib.suppress(Exception):
            await starting
