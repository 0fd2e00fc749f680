"""Scaling out and in while events flow: a second worker joins the group, then the first one leaves.

Both rebalances move partitions of ``score-events`` (and with them the users' state and stage 1 of the boards)
and possibly stage 2 between live workers. Every total must stay exact, every event answered with one total,
and the board must converge on the true totals under its new owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.leaderboard import LeaderboardSnapshot
from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.services import ServiceProcess
from tests.fixtures.wins import POINTS, assert_each_event_counted_once, distinct_event_ids, produce_wins

pytestmark = pytest.mark.integration

USERS = 30
PHASE = 900  # events per phase: before the join, during it, during the leave


async def test_a_worker_joining_then_one_leaving_mid_stream_keeps_totals_and_board_exact(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., ServiceProcess], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=4)
    src, applied_topic = topics.names.score_events, topics.names.applied
    settings = {"SCOREBOARD_BATCH_MAX": "50", "SCOREBOARD_TOP_K": "5"}
    first = start_worker(topics, data_dir=tmp_path / "a", name="worker-1", **settings)
    await produce_wins(producer, src, 0, PHASE, USERS)
    await consume_until(bootstrap, applied_topic, lambda r: len(distinct_event_ids(r)) >= PHASE // 2)

    joining = asyncio.create_task(produce_wins(producer, src, PHASE, PHASE, USERS))
    start_worker(topics, data_dir=tmp_path / "b", name="worker-2", **settings)  # ready = its share assigned
    await joining
    leaving = asyncio.create_task(produce_wins(producer, src, 2 * PHASE, PHASE, USERS))
    await asyncio.to_thread(first.stop)  # SIGTERM: leaves the group; worker-2 takes every partition
    await leaving

    total = 3 * PHASE
    applied = await consume_until(
        bootstrap, applied_topic, lambda r: len(distinct_event_ids(r)) >= total, timeout=180
    )
    assert_each_event_counted_once(applied, USERS, total)

    expected = total // USERS * POINTS

    def board_final(records: list) -> bool:  # type: ignore[type-arg]
        boards = [LeaderboardSnapshot.model_validate_json(r.value) for r in records if r.key == b"alltime"]
        return bool(boards) and [row.score for row in boards[-1].data] == [expected] * 5

    await consume_until(bootstrap, topics.names.leaderboard_updates, board_final, timeout=60)
