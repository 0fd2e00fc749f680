"""Exactly once as a property: SIGKILL the worker mid-stream, restart it, and every total is exact.

The second restart uses an empty state directory, as if the worker moved to another machine, so the state
must come back from the changelog alone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.services import ServiceProcess

pytestmark = pytest.mark.integration

EVENTS = 4000
USERS = 40
POINTS = 25  # win_match


async def _produce(producer: AIOKafkaProducer, topic: str) -> None:
    for i in range(EVENTS):
        user = f"user-{i % USERS}"
        value = orjson.dumps({"user_id": user, "action_id": "win_match", "event_id": f"ev-{i}"})
        await producer.send(topic, value, key=user.encode())
        if i % 200 == 0:
            await producer.flush()
            await asyncio.sleep(0)  # let the kill land mid-stream
    await producer.flush()


def _distinct_events(records: list) -> set[str]:  # type: ignore[type-arg]
    return {orjson.loads(r.value)["event_id"] for r in records}


async def test_sigkill_mid_stream_neither_loses_nor_doubles(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., ServiceProcess], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=3)
    worker = start_worker(topics, data_dir=tmp_path / "state-a", name="worker-1", SCOREBOARD_BATCH_MAX="50")
    sending = asyncio.create_task(_produce(producer, topics.names.score_events))

    await consume_until(bootstrap, topics.names.applied, lambda r: len(r) >= 600)
    worker.kill()
    worker = start_worker(topics, data_dir=tmp_path / "state-a", name="worker-2", SCOREBOARD_BATCH_MAX="50")
    await consume_until(bootstrap, topics.names.applied, lambda r: len(_distinct_events(r)) >= 2000)
    worker.kill()
    await sending
    start_worker(topics, data_dir=tmp_path / "state-b", name="worker-3")  # empty disk: changelog only

    applied = await consume_until(
        bootstrap, topics.names.applied, lambda r: len(_distinct_events(r)) >= EVENTS, timeout=180
    )
    answers: dict[str, set[int]] = defaultdict(set)
    best: dict[str, int] = defaultdict(int)
    for r in applied:
        v = orjson.loads(r.value)
        answers[v["event_id"]].add(v["new_score"])
        best[v["user_id"]] = max(best[v["user_id"]], v["new_score"])
    # a redelivered event answers with the same total as the first time: no reported total is ever undone
    assert all(len(scores) == 1 for scores in answers.values())
    expected = EVENTS // USERS * POINTS
    assert best == {f"user-{u}": expected for u in range(USERS)}
    # and every user's answers are exactly 25, 50, ..., expected: each event counted once
    per_user: dict[str, list[int]] = defaultdict(list)
    for eid, scores in answers.items():
        per_user[f"user-{int(eid.split('-')[1]) % USERS}"].append(next(iter(scores)))
    for scores in per_user.values():
        assert sorted(scores) == list(range(POINTS, expected + 1, POINTS))
