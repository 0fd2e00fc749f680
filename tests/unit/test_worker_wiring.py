"""``create_app`` wires the worker explicitly: no autodiscovery, batch agents on the right topics, the timer."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas.catalog import ActionCatalog
from stream_app.app import create_app
from stream_app.backfill import BoardFill
from stream_app.faust_internals import app_tasks, consumer_driver, subscribed
from stream_app.faust_internals.batch_consumer import BatchConsumer, BatchTransport
from stream_app.faust_internals.same_loop import SameLoopConsumer
from stream_app.moderator import Moderator
from stream_app.record_batches import RecordBatches
from stream_app.settings import WorkerSettings

pytestmark = pytest.mark.unit


def test_batch_agents_and_timer_are_registered_explicitly(tmp_path: Path) -> None:
    settings = WorkerSettings(kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="wire-", data_dir=tmp_path,
                              batch_max=1234)
    worker = create_app(settings, ActionCatalog({"win": 25}))
    app = worker.app

    assert app.conf.autodiscover is False
    assert isinstance(app.transport, BatchTransport) and app.transport.Consumer is BatchConsumer
    assert app.conf.broker_max_poll_records == 1234  # one fetch is one batch
    assert set(worker.handlers) == {"wire-score-events", "wire-leaderboard-candidates", "wire-moderation"}
    moderate = worker.handlers["wire-moderation"]  # applies a fetch of commands, then stage 1
    moderator = next(c.cell_contents for c in moderate.__closure__ or () if isinstance(c.cell_contents, Moderator))
    assert moderator.results_topic == "wire-moderation-results" and moderator.source_topic == "wire-moderation"
    ingest = worker.handlers["wire-score-events"]  # applies a fetch, then hands the changed users to stage 1
    assert {cell.cell_contents for cell in ingest.__closure__ or ()} == {worker.ingestor, worker.stage1, worker.metrics}
    assert worker.handlers["wire-leaderboard-candidates"] == worker.stage2.on_candidates
    emitter = worker.stage2.emitter  # boards and who moved in them leave through watched outputs
    assert (emitter.updates, emitter.rank_changes) == (worker.topics.updates, worker.topics.rank_changes)
    assert worker.topics.rank_changes.name == "wire-rank-changes"
    names = {name for topic in subscribed(app) for name in topic.topics}
    assert {"wire-score-events", "wire-leaderboard-candidates"} <= names  # Faust subscribes and acks them
    assert all(topic.acks for topic in subscribed(app))  # Faust tracks and commits their offsets
    assert not app.agents  # no per-message Faust agents
    assert len(app_tasks(app)) == 5  # the partition, period, lag, dead-letter log and board fill timers
    assert isinstance(worker.ingestor.gate, BoardFill)  # boards not live yet are kept off the live path
    # what /metrics counts: the ingestor's decisions, dead letters by kind, boards emitted
    assert worker.metrics.ingestor is worker.ingestor
    assert worker.ingestor.dead.counted == worker.metrics.dead_letter
    assert emitter.emitted == worker.metrics.board_emitted


async def test_the_kafka_consumer_runs_on_the_apps_loop_not_in_a_thread(tmp_path: Path) -> None:
    settings = WorkerSettings(kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="wire-", data_dir=tmp_path)
    app = create_app(settings, ActionCatalog({"win": 25})).app
    consumer = app.consumer
    driver = consumer_driver(consumer)
    assert isinstance(consumer, BatchConsumer) and isinstance(driver, SameLoopConsumer)
    assert driver.thread_loop is driver.parent_loop is asyncio.get_running_loop()
    # a call "into the thread" runs in place, on this loop, in this thread
    ran: list[int] = []

    async def here() -> int:
        ran.append(threading.get_ident())
        return 7

    assert await driver.call_thread(here) == 7 and ran == [threading.get_ident()]


def test_reply_partition_is_the_default_partitioners_choice() -> None:
    """When ``score-applied`` and the source differ in partitions, replies are placed as Kafka's default would."""
    for key in (b"ann", b"user-42", "Zoë".encode()):
        for count in (1, 3, 6, 12):
            assert RecordBatches.partition_for(key, count) == DefaultPartitioner()(key, list(range(count)), [])


class _FakeConsumer:
    """What ``BatchConsumer.run_batch`` touches: the app's crash and the per-message ack."""

    def __init__(self) -> None:
        self.acked: list[object] = []
        self.crashed: list[BaseException] = []
        self.app = SimpleNamespace(crash=self._crash)

    async def _crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)

    def ack(self, message: object) -> None:
        self.acked.append(message)


async def test_a_batch_is_acked_only_after_its_handler_returns() -> None:
    fake, messages = _FakeConsumer(), [SimpleNamespace(topic="t", offset=i) for i in range(3)]

    async def ok(batch: list[object]) -> None:
        assert fake.acked == []  # nothing is acked while the batch is being applied

    await BatchConsumer.run_batch(cast(Any, fake), ok, messages)
    assert fake.acked == messages and fake.crashed == []


async def test_a_failing_handler_crashes_the_worker_and_stops_the_drain_unacked() -> None:
    fake, messages = _FakeConsumer(), [SimpleNamespace(topic="t", offset=0)]

    async def bug(batch: list[object]) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):  # re-raised: the drain must not apply a later batch ahead of this one
        await BatchConsumer.run_batch(cast(Any, fake), bug, messages)
    assert fake.acked == [] and isinstance(fake.crashed[0], KeyError)
