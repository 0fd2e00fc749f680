"""The write API and an unreliable broker: started before Kafka it waits; Kafka gone, it answers 504 (outcome
unknown) or 503 (nothing written) — never a 500 and never a 503 for an event that is written — and still shuts
down cleanly.

Uses a private broker (not the session one), because this test starts it late and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest

from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tests.fixtures.api import KEY1, KEYS
from tests.fixtures.kafka import Topics, read_to_end
from tests.fixtures.services import base_env
from tools.kafka_local import LocalKafka, free_port
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

BODY = b'{"user_id": "u1", "action_id": "win_match"}'
HEADERS = {"content-type": "application/json", "x-api-key": KEY1}


async def wait_for_log(process: Supervisor, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in process.output():
        assert process.proc is None or process.proc.poll() is None, process.output()[-3000:]
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s"
        await asyncio.sleep(0.2)


async def wait_for_process(process: Supervisor, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while process.proc is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def test_api_waits_for_a_late_broker_then_answers_outcome_unknown_when_it_goes(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka", heap="384M")
    topics = Topics("late-", TopicNames.with_prefix("late-"), 1)
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_API_KEYS=KEYS, SCOREBOARD_API_PORT=str(port),
                   SCOREBOARD_KAFKA_CONNECT_TIMEOUT="180", SCOREBOARD_PRODUCE_TIMEOUT_MS="3000",
                   SCOREBOARD_REPLY_TIMEOUT_MS="200")
    url = f"http://127.0.0.1:{port}"
    api = Supervisor.module("producer_api", env=env, log_path=tmp_path / "api.log", ready_url=f"{url}/readyz")
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
            # the record was handed to the producer, which keeps it until the broker is back: not "not written"
            assert failed.status_code == 504
            assert failed.json()["status"] == "unknown" and failed.json()["event_id"].startswith("idem-")
            assert failed.headers["idempotency-key"] == "order-9"  # what the client retries with
            assert failed.headers["retry-after"] == "1"
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            assert "scoreboard_api_produce_unknown_total 1.0" in (await client.get("/metrics")).text
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


async def test_an_event_sent_to_a_frozen_broker_is_504_unknown_and_is_written_once_it_thaws(tmp_path: Path) -> None:
    """The lie this replaces: a 503 ("retry") for an event the producer still held and delivered later. The broker
    is frozen (SIGSTOP) past the produce bound: the answer must be 504 with the event id; after SIGCONT the held
    record reaches the log, so "not written" would have been false, and a retry with the key is the same event."""
    broker = LocalKafka(tmp_path / "kafka", heap="384M").start()
    topics = Topics("frozen-", TopicNames.with_prefix("frozen-"), 1)
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_API_KEYS=KEYS, SCOREBOARD_API_PORT=str(port),
                   SCOREBOARD_PRODUCE_TIMEOUT_MS="1500", SCOREBOARD_REPLY_TIMEOUT_MS="200")
    url = f"http://127.0.0.1:{port}"
    api = Supervisor.module("producer_api", env=env, log_path=tmp_path / "api.log", ready_url=f"{url}/readyz")
    assert broker.proc is not None
    try:
        await ensure_topics(plaintext(broker.bootstrap), contract_topics(topics.names, 1))
        await asyncio.to_thread(api.start, 120.0)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            assert (await client.post("/scores", content=BODY, headers=HEADERS)).status_code in (200, 202)
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                held = await client.post("/scores", content=BODY, headers={**HEADERS, "idempotency-key": "held-1"})
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            assert held.status_code == 504, held.text
            assert held.json()["status"] == "unknown" and held.headers["idempotency-key"] == "held-1"
            event_id = held.json()["event_id"]
            deadline = time.monotonic() + 60
            while event_id not in {orjson.loads(r.value)["event_id"] for r in await read_to_end(
                    broker.bootstrap, topics.names.score_events)}:
                assert time.monotonic() < deadline, "the held record never reached the log"
                await asyncio.sleep(0.2)
            retry = await client.post("/scores", content=BODY, headers={**HEADERS, "idempotency-key": "held-1"})
            assert retry.status_code in (200, 202) and retry.json()["event_id"] == event_id  # same event, once
    finally:
        api.stop()
        broker.stop()


async def test_after_a_broker_restart_the_api_writes_again_by_itself_and_every_503_was_written_nowhere(
        tmp_path: Path) -> None:
    """A graceful broker restart under load left the idempotent producer failing every send with
    OutOfOrderSequenceNumber (and /readyz 200) until the API was restarted by hand: now it rebuilds its producer.

    And the answers tell the truth: 290 of 963 requests answered 503 in such a run were applied anyway. Now an event
    answered 503 is not in ``score-events`` once the API has flushed and stopped; one sent but not acknowledged is a
    504 naming its event id (and may be there); every 202 is there."""
    broker = LocalKafka(tmp_path / "kafka", heap="384M").start()
    topics = Topics("bounce-", TopicNames.with_prefix("bounce-"), 1)
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_API_KEYS=KEYS, SCOREBOARD_API_PORT=str(port),
                   SCOREBOARD_PRODUCE_TIMEOUT_MS="3000", SCOREBOARD_REPLY_TIMEOUT_MS="200")
    url = f"http://127.0.0.1:{port}"
    api = Supervisor.module("producer_api", env=env, log_path=tmp_path / "api.log", ready_url=f"{url}/readyz")
    answers: dict[int, list[str]] = {}  # status -> event ids
    try:
        await ensure_topics(plaintext(broker.bootstrap), contract_topics(topics.names, 1))
        await asyncio.to_thread(api.start, 120.0)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            async def post(n: int) -> int:
                body = b'{"user_id": "u%d", "action_id": "win_match"}' % n
                response = await client.post("/scores", content=body, headers={**HEADERS, "prefer": "respond-async"})
                answers.setdefault(response.status_code, []).append(response.json().get("event_id", ""))
                return response.status_code

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
        api.stop()  # SIGTERM: the producer flushes what it still holds (or gives up on it) before exiting
        assert set(answers) <= {202, 503, 504}, {s: len(ids) for s, ids in answers.items()}  # never a 500
        assert answers.get(503) or answers.get(504), "the outage produced no failed request"
        logged = {orjson.loads(r.value)["event_id"] for r in await read_to_end(broker.bootstrap,
                                                                              topics.names.score_events)}
        assert set(answers[202]) <= logged  # every accepted event is in the log
        applied_after_503 = set(answers.get(503, [])) & logged
        assert not applied_after_503, f"{len(applied_after_503)} events answered 503 were written"
    finally:
        api.stop()
        broker.stop()
