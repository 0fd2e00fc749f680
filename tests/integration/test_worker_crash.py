"""Exactly once as a property: SIGKILL the worker mid-stream, restart it, and every total is exact.

The second restart uses an empty state directory, as if the worker moved to another machine, so the state
must come back from the changelog alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.wins import assert_each_event_counted_once, distinct_event_ids, produce_wins
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

EVENTS = 4000
USERS = 40


async def test_sigkill_mid_stream_neither_loses_nor_doubles(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=3)
    worker = start_worker(topics, data_dir=tmp_path / "state-a", name="worker-1", SCOREBOARD_BATCH_MAX="50")
    sending = asyncio.create_task(
        produce_wins(producer, topics.names.score_events, 0, EVENTS, USERS, flush_every=200)  # kills land between
    )

    await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 600)
    worker.kill()
    worker = start_worker(topics, data_dir=tmp_path / "state-a", name="worker-2", SCOREBOARD_BATCH_MAX="50")
    await consume_until(bootstrap, topics.names.applied, lambda r: len(distinct_event_ids(r)) >= 2000)
    worker.kill()
    await sending
    start_worker(topics, data_dir=tmp_path / "state-b", name="worker-3")  # empty disk: changelog only

    applied = await consume_until(
        bootstrap, topics.names.applied, lambda r: len(distinct_event_ids(r)) >= EVENTS, timeout=180
    )
    # a redelivered event answers with the same total as the first time, and each event counts once
    assert_each_event_counted_once(applied, USERS, EVENTS)
