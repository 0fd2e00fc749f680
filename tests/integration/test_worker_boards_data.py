"""Boards as data on the real broker: the worker applies each event to every board that counts its action, with
each board's aggregation, order and zone; value actions are checked again; a board added later is filled from the
audit log, equal to what it would have been had it existed from the start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from schemas.leaderboard import LeaderboardSnapshot
from tests.fixtures.boards import board_files, live_partitions, standings_on
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

BOARDS = """
wins: {actions: [win_match], windows: [alltime, daily], timezone: Pacific/Auckland}
fastest-lap: {actions: [lap_ms], aggregation: min, value: true, windows: [alltime, monthly],
              timezone: America/Los_Angeles}
best-level: {actions: [level], aggregation: max, value: true, windows: [alltime]}
last-level: {actions: [level], aggregation: latest, value: true, windows: [alltime]}
"""


def latest(records: list[ConsumerRecord[bytes, bytes]], key: str) -> LeaderboardSnapshot | None:
    values = [r.value for r in records if r.key == key.encode() and r.value is not None]
    return LeaderboardSnapshot.model_validate_json(values[-1]) if values else None


def ranking(snapshot: LeaderboardSnapshot | None) -> list[tuple[str, int]]:
    return [(row.user_id, row.score) for row in snapshot.data] if snapshot else []


async def send(producer: AIOKafkaProducer, topic: str, user: str, action: str, event_id: str, **extra: object) -> None:
    value = orjson.dumps({"user_id": user, "action_id": action, "event_id": event_id, **extra})
    await producer.send_and_wait(topic, value, key=user.encode())


async def test_each_board_counts_its_actions_with_its_aggregation_order_and_zone(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics, **board_files(tmp_path, BOARDS))
    src = topics.names.score_events
    plan: list[tuple[str, str, dict[str, object]]] = [
        ("ann", "win_match", {}), ("bob", "win_match", {}), ("bob", "win_match", {}), ("ann", "daily_login", {}),
        ("ann", "lap_ms", {"value": 90_000}), ("bob", "lap_ms", {"value": 80_000}),
        ("cat", "lap_ms", {"value": 80_000}), ("ann", "lap_ms", {"value": 70_000}),
        ("ann", "level", {"value": 5}), ("ann", "level", {"value": 3}), ("bob", "level", {"value": 7}),
    ]
    for i, (user, action, extra) in enumerate(plan):
        await send(producer, src, user, action, f"e{i}", **extra)
    # the value rules, checked again at the worker: each a dead letter with its reason, never a crash
    await send(producer, src, "dan", "lap_ms", "bad1")  # a value action without its value
    await send(producer, src, "dan", "lap_ms", "bad2", value=0)  # outside 1..3600000
    await send(producer, src, "dan", "win_match", "bad3", value=10)  # a points action takes no value

    catalog = ActionCatalog.load(tmp_path / "actions.yaml")
    boards = Boards.load(tmp_path / "boards.yaml", catalog)
    now = datetime.now(UTC)
    want = {
        "alltime": [("bob", 50), ("ann", 30)],  # global: points actions only, daily_login included
        "wins/alltime": [("bob", 50), ("ann", 25)],  # win_match only
        boards.current_key("wins", "daily", now): [("bob", 50), ("ann", 25)],  # Auckland's day
        "fastest-lap/alltime": [("ann", 70_000), ("bob", 80_000), ("cat", 80_000)],  # lowest first; bob was first
        boards.current_key("fastest-lap", "monthly", now): [("ann", 70_000), ("bob", 80_000), ("cat", 80_000)],
        "best-level/alltime": [("bob", 7), ("ann", 5)],
        "last-level/alltime": [("bob", 7), ("ann", 3)],
    }
    records = await consume_until(bootstrap, topics.names.leaderboard_updates,
                                  lambda rs: all(ranking(latest(rs, k)) == v for k, v in want.items()))
    lap = latest(records, "fastest-lap/alltime")
    assert lap is not None and (lap.board, lap.window, lap.period) == ("fastest-lap", "alltime", None)
    month = latest(records, boards.current_key("fastest-lap", "monthly", now))
    assert month is not None and month.window == "monthly"
    assert month.period == boards.get("fastest-lap").period("monthly", now)  # the month in Los Angeles
    glob = latest(records, "alltime")
    assert glob is not None and glob.board == "global"  # the global board's key and body as before

    dead = await consume_until(bootstrap, topics.names.dlq, lambda rs: len(rs) >= 3)
    reasons = sorted(dict(r.headers).get("x-dlq-reason", b"").decode() for r in dead)
    assert any("must carry a value" in r for r in reasons), reasons
    assert any("outside the action's range 1..3600000" in r for r in reasons), reasons
    assert any("a value is not allowed" in r for r in reasons), reasons


async def test_a_board_added_later_is_filled_from_the_audit_log_while_events_flow(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """Deployment A gets the board after 1,500 events and 300 more arrive while it fills; deployment B has had it
    from the start and sees the same events. Every user's standing on the board — score and when it was reached,
    what ranks ties — is the same on both, and so is the top."""
    later, start = await make_topics(partitions=3), await make_topics(partitions=3)
    board = "wins: {actions: [win_match], windows: [alltime, daily], timezone: Pacific/Auckland}\n"
    worker = start_worker(later, data_dir=tmp_path / "a" / "data", **board_files(tmp_path / "a", None))
    start_worker(start, data_dir=tmp_path / "b" / "data", name="from-start", **board_files(tmp_path / "b", board))
    users = [f"u{i:03d}" for i in range(60)]
    base = datetime.now(UTC) - timedelta(seconds=30)

    def event(i: int, user: str, action: str, event_id: str) -> bytes:
        occurred = (base + timedelta(milliseconds=i)).isoformat()  # the same times in both deployments
        return orjson.dumps({"user_id": user, "action_id": action, "event_id": event_id, "occurred_at": occurred})

    async def both(value: bytes, user: str) -> None:
        for topics in (later, start):
            await producer.send(topics.names.score_events, value, key=user.encode())

    sent: list[tuple[str, str]] = []
    for i in range(1_500):  # before A has the board
        user, action = users[(i * 7) % len(users)], ("daily_login" if i % 3 == 0 else "win_match")
        await both(event(i, user, action, f"a{i}"), user)
        sent.append((user, action))
    retry_user, retry_action = sent[1]  # a client's retry of event a1: answered again, counted once
    await both(event(1, retry_user, retry_action, "a1"), retry_user)
    await producer.flush()
    await consume_until(bootstrap, later.names.applied, lambda rs: len(rs) >= 1_501, timeout=120)
    worker.stop()

    start_worker(later, data_dir=tmp_path / "a" / "data", **board_files(tmp_path / "a", board))
    for i in range(300):  # while it fills
        user = users[(i * 11) % len(users)]
        await both(event(2_000 + i, user, "win_match", f"b{i}"), user)
        sent.append((user, "win_match"))
    await producer.flush()
    totals: dict[str, int] = {}
    for user, action in sent:
        if action == "win_match":
            totals[user] = totals.get(user, 0) + 25

    reference = await consume_until(bootstrap, start.names.user_standings,
                                    lambda rs: {u: s for u, (s, _) in _wins(rs).items()} == totals, timeout=120)
    want = _wins(reference)
    filled = await consume_until(bootstrap, later.names.user_standings, lambda rs: _wins(rs) == want, timeout=120)
    assert _wins(filled) == want  # score and since of every user: as if the board had existed from the start
    status = await consume_until(bootstrap, later.names.board_status,
                                 lambda rs: _live(rs, "wins") == set(range(3)), timeout=60)
    assert _live(status, "wins") == set(range(3)) and _live(status, "global") == set(range(3))

    def final(rs: list[ConsumerRecord[bytes, bytes]]) -> bool:
        top = ranking(latest(rs, "wins/alltime"))
        return len(top) == min(len(totals), 100) and all(want[u][0] == s for u, s in top)

    top_a = latest(await consume_until(bootstrap, later.names.leaderboard_updates, final), "wins/alltime")
    top_b = latest(await consume_until(bootstrap, start.names.leaderboard_updates, final), "wins/alltime")
    assert ranking(top_a) == ranking(top_b)  # the same order, ties included


def _wins(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, tuple[int, int]]:
    return standings_on(records, "wins/alltime")


def _live(records: list[ConsumerRecord[bytes, bytes]], board: str) -> set[int]:
    return live_partitions(records, board)


async def test_a_boards_period_is_sealed_with_its_own_final_in_its_order(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """Finals per board: yesterday's ``fastest`` day is sealed on ``leaderboard-final`` under its own key, lowest
    first, beside the global day (the grace is set so that yesterday closes seconds after the test starts)."""
    topics = await make_topics(partitions=3)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    grace = int((now - midnight).total_seconds()) + 20
    yesterday = midnight - timedelta(hours=6)
    day = (midnight - timedelta(days=1)).date().isoformat()
    env = board_files(tmp_path, "fastest: {actions: [lap_ms], aggregation: min, value: true, windows: [daily]}\n")
    start_worker(topics, SCOREBOARD_PERIOD_GRACE_S=str(grace), **env)
    src = topics.names.score_events
    laps = [("ann", 9_000), ("bob", 7_000), ("cat", 7_000), ("ann", 6_500), ("bob", 8_000)]
    for i, (user, ms) in enumerate(laps):
        await send(producer, src, user, "lap_ms", f"l{i}", value=ms,
                   occurred_at=(yesterday + timedelta(seconds=i)).isoformat())
    key = f"fastest/daily:{day}"
    finals = await consume_until(bootstrap, topics.names.finals,
                                 lambda rs: any(r.key == key.encode() for r in rs), timeout=90)
    (final,) = [orjson.loads(r.value) for r in finals if r.key == key.encode()]
    assert (final["board"], final["board_id"], final["window"], final["period"]) == ("fastest", key, "daily", day)
    assert [(r["rank"], r["user_id"], r["score"]) for r in final["data"]] == [
        (1, "ann", 6_500), (2, "bob", 7_000), (3, "cat", 7_000)]  # bob reached 7,000 first
    assert final["total_players"] == 3
