"""Scaling out and in while events flow: a second worker joins the group, then the first one leaves.

Both rebalances move partitions of ``score-events`` (and with them the users' state and stage 1 of the boards)
and possibly stage 2 between live workers. Every total must stay exact, every event answered with one total,
and the board must converge on the true totals under its new owner.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.leaderboard import LeaderboardSnapshot
from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.services import ServiceProcess

pytestmark = pytest.mark.integration

USERS = 30
PHASE = 900  # events per phase: before the join, during it, during the leave
POINTS = 25  # win_match


async def _produce(producer: AIOKafkaProducer, topic: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        user = f"user-{i % USERS}"
        value = orjson.dumps({"user_id": user, "action_id": "win_match", "event_id": f"ev-{i}"})
        await producer.send(topic, value, key=user.encode())
        if i % 100 == 0:
            await producer.flush()  # in steps, so the rebalances land between records
    await producer.flush()


def _distinct(records: list) -> set[str]:  # type: ignore[type-arg]
    return {orjson.loads(r.value)["event_id"] for r in records}


async def test_a_worker_joining_then_one_leaving_mid_stream_keeps_totals_and_board_exact(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., ServiceProcess], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=4)
    src, applied_topic = topics.names.score_events, topics.names.applied
    settings = {"SCOREBOARD_BATCH_MAX": "50", "SCOREBOARD_TOP_K": "5"}
    first = start_worker(topics, data_dir=tmp_path / "a", name="worker-1", **settings)
    await _produce(producer, src, 0, PHASE)
    await consume_until(bootstrap, applied_topic, lambda r: len(_distinct(r)) >= PHASE // 2)

    joining = asyncio.create_task(_produce(producer, src, PHASE, PHASE))
    start_worker(topics, data_dir=tmp_path / "b", name="worker-2", **settings)  # ready = its share assigned
    await joining
    leaving = asyncio.create_task(_produce(producer, src, 2 * PHASE, PHASE))
    await asyncio.to_thread(first.stop)  # SIGTERM: leaves the group; worker-2 takes every partition
    await leaving

    total = 3 * PHASE
    applied = await consume_until(bootstrap, applied_topic, lambda r: len(_distinct(r)) >= total, timeout=180)
    answers: dict[str, set[int]] = defaultdict(set)
    for r in applied:
        v = orjson.loads(r.value)
        answers[v["event_id"]].add(v["new_score"])
    assert all(len(scores) == 1 for scores in answers.values())  # a redelivery answers as the first time
    per_user: dict[str, list[int]] = defaultdict(list)
    for eid, scores in answers.items():
        per_user[f"user-{int(eid.split('-')[1]) % USERS}"].append(next(iter(scores)))
    expected = total // USERS * POINTS
    for scores in per_user.values():  # each event counted exactly once: 25, 50, ..., expected
        assert sorted(scores) == list(range(POINTS, expected + 1, POINTS))

    def board_final(records: list) -> bool:  # type: ignore[type-arg]
        boards = [LeaderboardSnapshot.model_validate_json(r.value) for r in records if r.key == b"alltime"]
        return bool(boards) and [row.score for row in boards[-1].data] == [expected] * 5

    await consume_until(bootstrap, topics.names.leaderboard_updates, board_final, timeout=60)
