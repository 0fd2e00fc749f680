"""The broker stops in the middle of the worker's batches: nothing is lost, nothing counted twice.

A private broker (the test stops and restarts it). The worker's sends time out while it is gone
(``SCOREBOARD_WORKER_PRODUCE_TIMEOUT_S``); a failed send must stop every later commit, so the worker stops and
— restarted as Kubernetes or ``make run`` would — re-reads from its last commit. Every event must end with one
answer and every total exact.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.services import base_env
from tests.fixtures.wins import assert_each_event_counted_once, distinct_event_ids, produce_wins
from tools.kafka_local import LocalKafka, free_port
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

EVENTS = 2000
USERS = 20


def worker(broker: LocalKafka, topics: Topics, tmp_path: Path, name: str) -> Supervisor:
    port = free_port()
    env = base_env(broker.bootstrap, topics, SCOREBOARD_WORKER_ID="outage-worker",
                   SCOREBOARD_DATA_DIR=str(tmp_path / "state"), SCOREBOARD_WORKER_WEB_PORT=str(port),
                   SCOREBOARD_WORKER_SESSION_TIMEOUT_S="6", SCOREBOARD_WORKER_PRODUCE_TIMEOUT_S="3",
                   SCOREBOARD_BATCH_MAX="50", SCOREBOARD_KAFKA_CONNECT_TIMEOUT="120")
    return Supervisor.module("stream_app", env=env, log_path=tmp_path / f"{name}.log",
                             ready_url=f"http://127.0.0.1:{port}/readyz")


async def test_broker_stopped_mid_batch_loses_and_doubles_nothing(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka", heap="512M").start()
    topics = Topics("outage-", TopicNames.with_prefix("outage-"), 3)
    procs: list[Supervisor] = []
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=120_000)
    try:
        await ensure_topics(plaintext(broker.bootstrap), contract_topics(topics.names, 3))
        procs.append(await asyncio.to_thread(worker(broker, topics, tmp_path, "worker-1").start, 120.0))
        await producer.start()
        sending = asyncio.create_task(produce_wins(producer, topics.names.score_events, 0, EVENTS, USERS, 50))
        await consume_until(broker.bootstrap, topics.names.applied, lambda r: len(r) >= 300)
        deadline = time.monotonic() + 120
        await asyncio.to_thread(broker.stop)  # SIGTERM: a graceful broker restart, in the middle of the stream
        # while it is gone the worker's sends time out; a worker may not commit past them
        while "no offset is committed past it" not in procs[-1].output():
            assert time.monotonic() < deadline, "the worker's sends did not fail while the broker was gone"
            await asyncio.sleep(0.2)
        await asyncio.to_thread(broker.start)

        async def supervise() -> None:  # restart the worker whenever it stops, as Kubernetes or make run would
            while True:
                if procs[-1].proc is not None and procs[-1].proc.poll() is not None:
                    name = f"worker-{len(procs) + 1}"
                    procs.append(await asyncio.to_thread(worker(broker, topics, tmp_path, name).start, 120.0))
                await asyncio.sleep(0.5)

        supervisor = asyncio.create_task(supervise())
        try:
            await sending
            applied = await consume_until(broker.bootstrap, topics.names.applied,
                                          lambda r: len(distinct_event_ids(r)) >= EVENTS, timeout=240)
        finally:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        assert_each_event_counted_once(applied, USERS, EVENTS)
    finally:
        await producer.stop()
        for proc in procs:
            proc.stop()
        broker.stop()
