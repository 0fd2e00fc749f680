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

from schemas.runtime.kafka import plaintext
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
        await ensure_topics(plaintext(broker.bootstrap), contract_topics(topics.names, 1))
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


async def test_after_a_broker_restart_the_api_writes_again_by_itself(tmp_path: Path) -> None:
    """A graceful broker restart under load left the idempotent producer failing every send with
    OutOfOrderSequenceNumber (and /readyz 200) until the API was restarted by hand: now it rebuilds its producer."""
    broker = LocalKafka(tmp_path / "kafka", heap="384M").start()
    topics = Topics("bounce-", TopicNames.with_prefix("bounce-"), 1)
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_API_KEYS=KEYS, SCOREBOARD_API_PORT=str(port),
                   SCOREBOARD_PRODUCE_TIMEOUT_MS="3000", SCOREBOARD_REPLY_TIMEOUT_MS="200")
    url = f"http://127.0.0.1:{port}"
    api = ServiceProcess("producer_api", env, tmp_path / "api.log", ready_url=f"{url}/readyz")
    try:
        await ensure_topics(plaintext(broker.bootstrap), contract_topics(topics.names, 1))
        await asyncio.to_thread(api.start, 120.0)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            async def post(n: int) -> int:
                body = b'{"user_id": "u%d", "action_id": "win_match"}' % n
                return (await client.post("/scores", content=body, headers={**HEADERS, "prefer": "respond-async"},
                                          )).status_code

            assert {await post(n) for n in range(50)} == {202}
            outage = asyncio.Event()

            async def keep_posting(worker: int) -> None:  # load before, during and after the outage
                n = 0
                while not outage.is_set():
                    n += 1
                    with contextlib.suppress(httpx.HTTPError):
                        await post(10_000 * (worker + 1) + n)

            load = [asyncio.ensure_future(keep_posting(w)) for w in range(20)]
            await asyncio.sleep(1.0)  # a load phase of fixed length, not a condition
            await asyncio.to_thread(broker.stop)  # SIGTERM: a graceful restart, records in flight
            await asyncio.sleep(8.0)  # the outage lasts a while under load
            await asyncio.to_thread(broker.start)
            await asyncio.sleep(3.0)  # load goes on after the restart
            outage.set()
            await asyncio.gather(*load)
            deadline = time.monotonic() + 90
            statuses: list[int] = []
            while not statuses[-3:] == [202, 202, 202]:  # written again, several times in a row
                assert time.monotonic() < deadline, f"still failing after the restart: {statuses[-10:]}"
                statuses.append(await post(1000 + len(statuses)))
                if statuses[-1] != 202:
                    await asyncio.sleep(0.2)  # a retry pace, as a client would
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
    finally:
        api.stop()
        broker.stop()
