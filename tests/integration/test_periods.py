"""Periods on the real broker: a past day served and listed, a sealed period refusing late events, its final
emitted exactly once across a kill -9 of the worker at the close, and boards past the retention tombstoned.

No sleep until midnight: the grace is set so that *yesterday* is sealed a few seconds after the test starts
(``SCOREBOARD_PERIOD_GRACE_S`` = seconds since today's midnight + a margin), and events are dated yesterday with
``occurred_at`` — accepted while the grace runs, dead letters after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from tests.fixtures.kafka import Topics, consume_until, read_to_end
from tests.fixtures.sse import poll
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

CLOSE_IN_S = 20  # yesterday is sealed this long after the test computes the grace


def finals_of(records: list[ConsumerRecord[bytes, bytes]], board: str) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(r.value) for r in records if r.key == board.encode() and r.value is not None]


def event(user: str, n: int, at: datetime) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": "win_match", "event_id": f"{user}-{n}",
                         "occurred_at": at.isoformat(), "username": user.title()})


async def test_a_period_is_sealed_once_across_a_kill_at_the_close_and_then_served_and_listed(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer, tmp_path: Path,
    start_worker: Callable[..., Supervisor], start_sse: Callable[..., tuple[Supervisor, str]],
) -> None:
    topics = await make_topics(partitions=3)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    grace = int((now - midnight).total_seconds()) + CLOSE_IN_S
    closes_at = midnight + timedelta(seconds=grace)
    yesterday, board = midnight - timedelta(hours=6), f"daily:{(midnight - timedelta(days=1)).date().isoformat()}"
    env = {"SCOREBOARD_PERIOD_GRACE_S": str(grace), "SCOREBOARD_TOP_K": "5"}
    data = tmp_path / "worker-data"
    worker = start_worker(topics, data_dir=data, **env)
    _, sse = start_sse(topics, **env)
    src = topics.names.score_events
    for n, user in enumerate(["ann", "bob", "bob", "cat", "cat", "cat"]):  # cat 75, bob 50, ann 25
        await producer.send_and_wait(src, event(user, n, yesterday), key=user.encode())

    finals = await consume_until(bootstrap, topics.names.finals, lambda rs: bool(finals_of(rs, board)), timeout=90)
    worker.kill()  # kill -9 right at the close: the final is out; a restart must not send it again
    assert datetime.now(UTC) >= closes_at
    (final,) = finals_of(finals, board)
    assert [(r["rank"], r["user_id"], r["score"]) for r in final["data"]] == [(1, "cat", 75), (2, "bob", 50),
                                                                              (3, "ann", 25)]
    assert (final["total_players"], final["window"], final["board_id"]) == (3, "daily", board)
    assert final["period_end"] == midnight.isoformat().replace("+00:00", "Z")

    assert "not a board id" not in worker.output()  # its watermark keys are no boards: nothing to warn about
    worker = start_worker(topics, data_dir=data, name="worker-again", **env)
    await poll(lambda: "finals already sealed" in worker.new_output(), 60, "the restarted worker read the finals")
    late = await producer.send_and_wait(src, event("ann", 99, yesterday), key=b"ann")  # the period is closed
    dead = await consume_until(bootstrap, topics.names.dlq, lambda rs: any(
        dict(r.headers).get("x-source-offset") == str(late.offset).encode() for r in rs))
    reason = next(dict(r.headers)["x-dlq-reason"] for r in dead
                  if dict(r.headers).get("x-source-offset") == str(late.offset).encode())
    assert b"period closed" in reason and board.encode() in reason
    await producer.send_and_wait(src, event("dan", 1, datetime.now(UTC)), key=b"dan")  # today goes on
    await consume_until(bootstrap, topics.names.applied, lambda rs: any(b'"dan"' in r.value for r in rs))
    everything = await read_to_end(bootstrap, topics.names.finals)
    assert len(finals_of(everything, board)) == 1  # exactly once

    async with httpx.AsyncClient(timeout=30) as client:
        async def listed() -> bool:
            body = (await client.get(f"{sse}/leaderboard/periods", params={"window": "daily"})).json()
            return any(p["period"] == board.split(":")[1] and p["final"] for p in body["data"])

        await poll(listed, 30, "the sealed day is listed as final")
        periods = (await client.get(f"{sse}/leaderboard/periods", params={"window": "daily"})).json()["data"]
        assert [p["period"] for p in periods][:2] == [now.date().isoformat(), board.split(":")[1]]  # newest first
        past = (await client.get(f"{sse}/leaderboard", params={"window": "daily", "period": board.split(":")[1]}))
        assert past.status_code == 200
        body = past.json()
        assert [(r["user_id"], r["score"]) for r in body["data"]] == [("cat", 75), ("bob", 50), ("ann", 25)]
        assert body["period_end"] == final["period_end"] and body["total_players"] == 3
        unknown = await client.get(f"{sse}/leaderboard", params={"window": "daily", "period": "2020-01-01"})
        assert unknown.status_code == 404


async def test_boards_past_the_retention_are_tombstoned(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=1)
    old = "daily:2026-10-01"  # ended long before the 7 days kept
    body = {"data": [], "timestamp": "2026-10-01T12:00:00Z", "window": "daily", "period": "2026-10-01",
            "version": 1}
    await producer.send_and_wait(topics.names.leaderboard_updates, orjson.dumps(body), key=old.encode())
    for poison in (b"daily:2026-13-45", b"daily:9999-12-31", b"weekly:zzz"):  # keys that are no board id
        await producer.send_and_wait(topics.names.leaderboard_updates, b"{}", key=poison)
        await producer.send_and_wait(topics.names.finals, b"garbage", key=poison)
    await producer.send_and_wait(topics.names.candidates, orjson.dumps(
        {"board": "daily:9999-12-31", "partition": 0, "seq": 1, "entries": []}), key=b"daily:9999-12-31|0")
    worker = start_worker(topics)
    records = await consume_until(bootstrap, topics.names.leaderboard_updates,
                                  lambda rs: any(r.key == old.encode() and r.value is None for r in rs))
    assert [r.value is None for r in records if r.key == old.encode()] == [False, True]
    assert f"{old} is past the retention" in worker.output()
    assert "skipping 'daily:9999-12-31'" in worker.output() and "ignoring leaderboard-final record" in worker.output()
    await producer.send_and_wait(topics.names.score_events, orjson.dumps(
        {"user_id": "ann", "action_id": "win_match", "event_id": "after-poison"}), key=b"ann")
    await consume_until(bootstrap, topics.names.applied, lambda rs: any(b"after-poison" in r.value for r in rs))
    assert worker.proc is not None and worker.proc.poll() is None  # still running, still applying
