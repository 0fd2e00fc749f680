"""Scaling out and in while events flow: a second worker joins the group, then the first one leaves.

Both rebalances move partitions of ``score-events`` (and with them the users' state and stage 1 of the boards)
and possibly stage 2 between live workers. Every total must stay exact, every event answered with one total,
and the board must converge on the true totals under its new owner.

"While events flow" is checked, not assumed: events are produced in paced rounds for as long as each rebalance
lasts, the worker that stays reports the rebalance on its ``/readyz`` (``rebalancing`` while Faust rebalances or
recovers tables: ``stream_app/health.py``), watched every 50 ms, and the test asserts that rounds were written to
the log inside the rebalance it watched. The joining worker is started in a thread, so its start-up (which waits
for its ``/readyz``) does not hold up the event loop the producer runs on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.leaderboard import LeaderboardSnapshot
from tests.fixtures.kafka import Topics, consume_until
from tests.fixtures.wins import POINTS, assert_each_event_counted_once, distinct_event_ids, produce_wins
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

USERS = 30
PHASE = 900  # events before the join
ROUND_PACE_S = 0.05  # one round (one event per user) every 50 ms while a rebalance is under way
WATCH_S = 0.05
T = TypeVar("T")


@dataclass
class Observed:
    """What one phase saw: when each round of events was acknowledged, and the watched worker's states."""

    rounds_acked: list[float] = field(default_factory=list)
    states: list[tuple[float, str]] = field(default_factory=list)

    def rebalances(self) -> list[tuple[float, float]]:
        """The spans in which the watched worker answered ``rebalancing`` (first to last such answer in a row)."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        last = 0.0
        for at, state in self.states:
            if state == "rebalancing":
                start = at if start is None else start
                last = at
            elif start is not None:
                spans.append((start, last))
                start = None
        if start is not None:
            spans.append((start, last))
        return spans

    def rounds_during_rebalance(self) -> int:
        return sum(1 for t in self.rounds_acked if any(a <= t <= b for a, b in self.rebalances()))

    def settled(self) -> bool:
        """The watched worker rebalanced and is ready again."""
        return bool(self.rebalances()) and bool(self.states) and self.states[-1][1] == "ready"


async def while_rebalancing(producer: AIOKafkaProducer, topic: str, first_event: int, watch: Supervisor,
                            disturb: Awaitable[T], timeout: float = 120.0) -> tuple[T, int, Observed]:
    """Produce rounds of events and watch ``watch``'s ``/readyz`` while ``disturb`` runs and until ``watch`` has
    rebalanced and is ready again; returns what ``disturb`` returned, the number of events produced and what was
    observed."""
    seen = Observed()
    stop = asyncio.Event()
    url = watch.ready_url
    assert url is not None

    async def observe() -> None:
        async with httpx.AsyncClient(timeout=1.0) as http:
            while not stop.is_set():
                try:
                    state = (await http.get(url)).json()["status"]
                except httpx.HTTPError:
                    state = "unreachable"
                seen.states.append((time.monotonic(), state))
                await asyncio.sleep(WATCH_S)

    async def produce() -> int:
        produced = 0
        while not stop.is_set():
            await produce_wins(producer, topic, first_event + produced, USERS, USERS)  # one round, flushed
            seen.rounds_acked.append(time.monotonic())
            produced += USERS
            await asyncio.sleep(ROUND_PACE_S)
        return produced

    watcher, producing = asyncio.create_task(observe()), asyncio.create_task(produce())
    try:
        result = await disturb
        deadline = time.monotonic() + timeout
        while not seen.settled():
            assert time.monotonic() < deadline, f"no rebalance seen, or not over, within {timeout}s: {seen.states[-5:]}"
            await asyncio.sleep(WATCH_S)
    finally:
        stop.set()
        produced = await producing
        await watcher
    return result, produced, seen


async def test_a_worker_joining_then_one_leaving_mid_stream_keeps_totals_and_board_exact(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=4)
    src, applied_topic = topics.names.score_events, topics.names.applied
    settings = {"SCOREBOARD_BATCH_MAX": "50", "SCOREBOARD_TOP_K": "5"}
    first = await asyncio.to_thread(start_worker, topics, data_dir=tmp_path / "a", name="worker-1", **settings)
    await produce_wins(producer, src, 0, PHASE, USERS)
    await consume_until(bootstrap, applied_topic, lambda r: len(distinct_event_ids(r)) >= PHASE // 2)

    # the join: worker-2 starts in a thread (ready = its share assigned) while rounds of events go on
    joining = asyncio.to_thread(start_worker, topics, data_dir=tmp_path / "b", name="worker-2", **settings)
    second, joined, join = await while_rebalancing(producer, src, PHASE, first, joining)
    assert join.rounds_during_rebalance() >= 1, (join.rebalances(), join.rounds_acked)
    total = PHASE + joined

    # the leave: worker-1 stops (SIGTERM: leaves the group), worker-2 takes every partition, events go on
    _, left, leave = await while_rebalancing(producer, src, total, second, asyncio.to_thread(first.stop))
    assert leave.rounds_during_rebalance() >= 1, (leave.rebalances(), leave.rounds_acked)
    total += left

    applied = await consume_until(
        bootstrap, applied_topic, lambda r: len(distinct_event_ids(r)) >= total, timeout=180
    )
    assert_each_event_counted_once(applied, USERS, total)

    expected = total // USERS * POINTS

    def board_final(records: list) -> bool:  # type: ignore[type-arg]
        boards = [LeaderboardSnapshot.model_validate_json(r.value) for r in records if r.key == b"alltime"]
        return bool(boards) and [row.score for row in boards[-1].data] == [expected] * 5

    await consume_until(bootstrap, topics.names.leaderboard_updates, board_final, timeout=60)
