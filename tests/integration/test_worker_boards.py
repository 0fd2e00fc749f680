"""Boards on the real broker: the worker's two stages emit the exact top-K to ``leaderboard-updates``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.leaderboard import LeaderboardSnapshot
from schemas.periods import day_period, week_period
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration


def latest(records: list[ConsumerRecord[bytes, bytes]], board: str) -> LeaderboardSnapshot | None:
    values = [r.value for r in records if r.key == board.encode()]
    return LeaderboardSnapshot.model_validate_json(values[-1]) if values else None


def ranking(snapshot: LeaderboardSnapshot | None) -> list[tuple[int, str, int]]:
    return [(row.rank, row.user_id, row.score) for row in snapshot.data] if snapshot else []


async def test_boards_are_exact_across_partitions_with_decreases(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics, SCOREBOARD_TOP_K="3")
    plan = [("ann", "find_secret"), ("bob", "win_match"), ("cat", "complete_level_5"), ("dan", "daily_login"),
            ("bob", "win_match"), ("ann", "report_abuse_confirmed"), ("eve", "complete_level_1")]
    for i, (user, action) in enumerate(plan):
        value = orjson.dumps({"user_id": user, "action_id": action, "event_id": f"b{i}", "username": user.title()})
        await producer.send_and_wait(topics.names.score_events, value, key=user.encode())
    # totals: ann 100-20=80, bob 50, cat 50 (bob reached 50 after cat), dan 5, eve 10
    want = [(1, "ann", 80), (2, "cat", 50), (3, "bob", 50)]
    today = datetime.now(UTC)
    boards = ["alltime", f"daily:{day_period(today)}", f"weekly:{week_period(today)}"]
    records = await consume_until(
        bootstrap, topics.names.leaderboard_updates, lambda rs: all(ranking(latest(rs, b)) == want for b in boards)
    )
    snap = latest(records, "alltime")
    assert snap is not None and snap.window == "alltime" and snap.period is None
    assert snap.data[0].username == "Ann"
    daily = latest(records, boards[1])
    assert daily is not None and daily.window == "daily" and daily.period == day_period(today)
    versions = [LeaderboardSnapshot.model_validate_json(r.value).version for r in records if r.key == b"alltime"]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)  # only grows
