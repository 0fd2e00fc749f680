"""Moderation in the worker, on the real broker: commands produced to ``moderation`` as the write API does (ban,
unban, ledger keyed by user; a revert to every partition), applied in order with the events, exactly once.

Boards are read from ``leaderboard-updates``, standings from ``user-standings``, answers from
``moderation-results``; the worker is a real ``python -m stream_app`` process (killed with SIGKILL in one test).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.leaderboard import LeaderboardSnapshot
from schemas.moderation import ModerationCommand, ModerationResult
from schemas.periods import day_period, week_period
from tests.fixtures.kafka import Topics, consume_until, seed_state_items
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

Records = list[ConsumerRecord[bytes, bytes]]


def boards_now() -> list[str]:
    today = datetime.now(UTC)
    return ["alltime", f"daily:{day_period(today)}", f"weekly:{week_period(today)}"]


def latest_board(records: Records, board: str) -> dict[str, int] | None:
    values = [r.value for r in records if r.key == board.encode()]
    if not values:
        return None
    return {row.user_id: row.score for row in LeaderboardSnapshot.model_validate_json(values[-1]).data}


def boards_are(records: Records, want: dict[str, int]) -> bool:
    return all(latest_board(records, board) == want for board in boards_now())


def standing(records: Records, user: str) -> dict[str, Any] | None:
    values = [r.value for r in records if r.key == user.encode()]
    return orjson.loads(values[-1]) if values else None


def command(action: str, **fields: Any) -> ModerationCommand:
    return ModerationCommand(command_id=uuid.uuid4().hex, action=action,  # type: ignore[arg-type]
                             admin_key_id="ops-test", requested_at=datetime.now(UTC), **fields)


async def send(producer: AIOKafkaProducer, topics: Topics, cmd: ModerationCommand) -> None:
    value = cmd.model_dump_json(exclude_none=True).encode()
    if cmd.action == "revert":  # the event's owner is unknown: every partition gets it
        for partition in range(topics.partitions):
            await producer.send_and_wait(topics.names.moderation, value, key=(cmd.event_id or "").encode(),
                                         partition=partition)
    else:  # the partition of the user's events (same key, same partitioner, same partition count)
        await producer.send_and_wait(topics.names.moderation, value, key=(cmd.user_id or "").encode())


async def results(bootstrap: str, topics: Topics, cmd: ModerationCommand, count: int = 1) -> list[ModerationResult]:
    def mine(records: Records) -> list[ModerationResult]:
        found = [ModerationResult.model_validate_json(r.value) for r in records if r.key == cmd.command_id.encode()]
        return list({r.partition: r for r in found}.values())  # answers are at least once: one per partition

    got = await consume_until(bootstrap, topics.names.moderation_results, lambda rs: len(mine(rs)) >= count)
    return mine(got)


async def post(producer: AIOKafkaProducer, topics: Topics, user: str, action: str, event_id: str,
               occurred_at: str | None = None) -> None:
    event = {"user_id": user, "action_id": action, "event_id": event_id}
    if occurred_at is not None:
        event["occurred_at"] = occurred_at
    value = orjson.dumps(event)
    await producer.send_and_wait(topics.names.score_events, value, key=user.encode())


async def test_a_ban_hides_the_user_everywhere_and_the_unban_restores_the_exact_totals(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics)
    for i, (user, action) in enumerate([("ann", "find_secret"), ("bob", "win_match"), ("cat", "daily_login"),
                                        ("bob", "win_match")]):
        await post(producer, topics, user, action, f"m{i}")
    await consume_until(bootstrap, topics.names.leaderboard_updates,
                        lambda rs: boards_are(rs, {"ann": 100, "bob": 50, "cat": 5}))

    ban = command("ban", user_id="bob", reason="speed hack")
    await send(producer, topics, ban)
    assert [r.status for r in await results(bootstrap, topics, ban)] == ["applied"]
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"ann": 100, "cat": 5}))
    hidden = await consume_until(bootstrap, topics.names.user_standings,
                                 lambda rs: (standing(rs, "bob") or {}).get("boards") == {})
    assert standing(hidden, "bob") == {"user_id": "bob", "username": None, "boards": {}}

    await post(producer, topics, "bob", "complete_level_5", "while-banned")  # still counts, still hidden
    again = command("ban", user_id="bob", reason="twice")
    await send(producer, topics, again)
    assert [r.status for r in await results(bootstrap, topics, again)] == ["unchanged"]

    unban = command("unban", user_id="bob", reason="appeal accepted")
    await send(producer, topics, unban)
    assert [r.status for r in await results(bootstrap, topics, unban)] == ["applied"]
    await consume_until(bootstrap, topics.names.leaderboard_updates,
                        lambda rs: boards_are(rs, {"ann": 100, "bob": 100, "cat": 5}))
    back = await consume_until(bootstrap, topics.names.user_standings,
                               lambda rs: (standing(rs, "bob") or {}).get("boards", {}).get("alltime", {})
                               .get("score") == 100)
    assert {b: v["score"] for b, v in (standing(back, "bob") or {})["boards"].items()} == dict.fromkeys(
        boards_now(), 100)


async def test_a_revert_is_exact_on_every_window_once_and_shows_in_the_ledger_and_the_next_total(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics)
    same_instant = datetime.now(UTC).isoformat()  # the ledger orders one millisecond's events by their offsets
    for event_id, action in [("r1", "win_match"), ("r2", "find_secret"), ("r3", "daily_login")]:
        await post(producer, topics, "ann", action, event_id, same_instant)
    await post(producer, topics, "bob", "win_match", "b1")
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"ann": 130, "bob": 25}))

    revert = command("revert", event_id="r2", reason="exploit")
    await send(producer, topics, revert)
    answers = await results(bootstrap, topics, revert, count=3)
    assert sorted(r.status for r in answers) == ["applied", "not_here", "not_here"]
    applied = next(r for r in answers if r.status == "applied")
    assert (applied.user_id, applied.event_id, applied.points) == ("ann", "r2", 100)
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"ann": 30, "bob": 25}))

    twice = command("revert", event_id="r2", reason="again")
    await send(producer, topics, twice)
    assert sorted(r.status for r in await results(bootstrap, topics, twice, count=3)) == [
        "already_reverted", "not_here", "not_here"]
    unknown = command("revert", event_id="never-applied", reason="?")
    await send(producer, topics, unknown)
    assert {r.status for r in await results(bootstrap, topics, unknown, count=3)} == {"not_here"}

    # the next answer's new_score reflects the revert
    await post(producer, topics, "ann", "daily_login", "r4", same_instant)
    applied_records = await consume_until(bootstrap, topics.names.applied,
                                          lambda rs: any(orjson.loads(r.value)["event_id"] == "r4" for r in rs))
    assert next(orjson.loads(r.value) for r in applied_records if orjson.loads(r.value)["event_id"] == "r4")[
        "new_score"] == 35

    ledger = command("ledger", user_id="ann", window="daily")
    await send(producer, topics, ledger)
    (answer,) = await results(bootstrap, topics, ledger)
    assert answer.status == "applied" and answer.events is not None
    assert [(e.event_id, e.points, e.reverted) for e in answer.events] == [
        ("r4", 5, False), ("r3", 5, False), ("r2", 100, True), ("r1", 25, False)]  # newest first
    assert [e.action_id for e in answer.events] == ["daily_login", "daily_login", "find_secret", "win_match"]


async def test_a_worker_killed_between_a_revert_and_its_boards_loses_nothing_and_applies_nothing_twice(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=3)
    worker = start_worker(topics, data_dir=tmp_path / "state", name="worker-1")
    for i in range(20):
        await post(producer, topics, "kim", "win_match", f"k{i}")  # 500
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"kim": 500}))
    first = command("revert", event_id="k3", reason="kill after the answer")
    await send(producer, topics, first)
    await results(bootstrap, topics, first, count=3)  # applied in the state; its commit and boards may not be
    worker.kill()  # SIGKILL
    second = command("revert", event_id="k4", reason="kill before applying")
    await send(producer, topics, second)
    worker = start_worker(topics, data_dir=tmp_path / "state", name="worker-2")
    assert [r.status for r in await results(bootstrap, topics, second, count=3) if r.status != "not_here"] == [
        "applied"]
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"kim": 450}))
    worker.kill()
    start_worker(topics, data_dir=tmp_path / "state-empty", name="worker-3")  # from the changelog alone
    ledger = command("ledger", user_id="kim")
    await send(producer, topics, ledger)
    (answer,) = await results(bootstrap, topics, ledger)
    assert answer.events is not None and len(answer.events) == 20
    assert sorted(e.event_id for e in answer.events if e.reverted) == ["k3", "k4"]
    await post(producer, topics, "kim", "daily_login", "k-last")
    applied = await consume_until(bootstrap, topics.names.applied,
                                  lambda rs: any(orjson.loads(r.value)["event_id"] == "k-last" for r in rs))
    assert max(orjson.loads(r.value)["new_score"] for r in applied
               if orjson.loads(r.value)["event_id"] == "k-last") == 455


async def test_a_malformed_command_is_a_dead_letter_and_the_next_one_applies(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    topics = await make_topics(partitions=3)
    start_worker(topics)
    await post(producer, topics, "zed", "win_match", "z1")
    for bad in (b"not json", b'{"action": "ban"}', b'{"command_id": "c", "action": "nuke", "user_id": "zed", '
                                                     b'"admin_key_id": "a", "requested_at": "2026-12-01T00:00:00Z"}'):
        await producer.send_and_wait(topics.names.moderation, bad, key=b"zed")
    ban = command("ban", user_id="zed", reason="after the bad ones")
    await send(producer, topics, ban)
    assert [r.status for r in await results(bootstrap, topics, ban)] == ["applied"]
    dead = await consume_until(bootstrap, topics.names.dlq, lambda rs: len(rs) >= 3)
    reasons = [dict(r.headers)["x-dlq-reason"].decode() for r in dead]
    assert all(reason.startswith("invalid moderation command") for reason in reasons), reasons
    assert {dict(r.headers)["x-source-topic"].decode() for r in dead} == {topics.names.moderation}


async def test_a_revert_past_the_horizon_is_expired_and_changes_nothing(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    """A journal entry applied 100 days ago (seeded in the changelog: a test cannot wait for it) is past the
    90-day horizon: ``expired`` (the API's 410), and the total stays."""
    topics = await make_topics(partitions=3)
    old_ms = int((datetime.now(UTC) - timedelta(days=100)).timestamp() * 1000)
    await seed_state_items(bootstrap, producer, topics, "vet", [
        ("v:old-1\nvet", 1),
        ("e:vet\nold-1", [-1, 25, 25, old_ms, "win_match", old_ms, None]),
        ("u:vet", {"o": -1, "n": None, "b": {"alltime": [25, old_ms]}}),  # no score-events offset yet
    ])
    start_worker(topics)
    revert = command("revert", event_id="old-1", reason="too late")
    await send(producer, topics, revert)
    answers = await results(bootstrap, topics, revert, count=3)
    assert sorted(r.status for r in answers) == ["expired", "not_here", "not_here"]
    await post(producer, topics, "vet", "daily_login", "new-1")
    applied = await consume_until(bootstrap, topics.names.applied,
                                  lambda rs: any(orjson.loads(r.value)["event_id"] == "new-1" for r in rs))
    assert [orjson.loads(r.value)["new_score"] for r in applied] == [30]  # 25 kept, + 5


async def test_a_command_not_in_its_users_partition_is_a_dead_letter_and_changes_nothing(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor],
) -> None:
    """A ban keyed by another key, or in a partition that does not own the user (a CRC32 client, a typo), would be
    answered and stand the user nowhere on a partition nobody reads from: it is a dead letter instead."""
    from aiokafka.partitioner import murmur2

    topics = await make_topics(partitions=3)
    start_worker(topics)
    await post(producer, topics, "wes", "win_match", "w1")
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"wes": 25}))
    home = (murmur2(b"wes") & 0x7FFFFFFF) % 3
    elsewhere = command("ban", user_id="wes", reason="wrong partition")
    await producer.send_and_wait(topics.names.moderation, elsewhere.model_dump_json().encode(), key=b"wes",
                                 partition=(home + 1) % 3)
    other_key = command("ban", user_id="wes", reason="wrong key")
    await producer.send_and_wait(topics.names.moderation, other_key.model_dump_json().encode(), key=b"someone",
                                 partition=home)
    dead = await consume_until(bootstrap, topics.names.dlq, lambda rs: len(rs) >= 2)
    assert all("must be keyed by the user_id and in its partition" in dict(r.headers)["x-dlq-reason"].decode()
               for r in dead)
    ban = command("ban", user_id="wes", reason="right place")  # and the worker goes on
    await send(producer, topics, ban)
    assert [r.status for r in await results(bootstrap, topics, ban)] == ["applied"]


async def test_two_reverts_of_one_event_in_one_fetch_take_the_points_off_once(
    bootstrap: str, make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_worker: Callable[..., Supervisor], tmp_path: Path,
) -> None:
    """Two admins (or a retry after a 504) revert one event while the worker is busy or down: both commands reach
    it in one fetch. The second must see the first's mark, not the store's old entry (it took the points twice)."""
    topics = await make_topics(partitions=3)
    worker = start_worker(topics, data_dir=tmp_path / "state", name="worker-1")
    await post(producer, topics, "yw", "win_match", "y1")
    await post(producer, topics, "yw", "find_secret", "y2")
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"yw": 125}))
    worker.stop()  # both reverts wait in the log: the restarted worker fetches them together
    first, second = command("revert", event_id="y2", reason="a"), command("revert", event_id="y2", reason="b")
    await send(producer, topics, first)
    await send(producer, topics, second)
    start_worker(topics, data_dir=tmp_path / "state", name="worker-2")
    decided = [r.status for r in await results(bootstrap, topics, first, count=3) if r.status != "not_here"]
    again = [r.status for r in await results(bootstrap, topics, second, count=3) if r.status != "not_here"]
    assert (decided, again) == (["applied"], ["already_reverted"])
    await consume_until(bootstrap, topics.names.leaderboard_updates, lambda rs: boards_are(rs, {"yw": 25}))
    await post(producer, topics, "yw", "daily_login", "y3")
    applied = await consume_until(bootstrap, topics.names.applied,
                                  lambda rs: any(orjson.loads(r.value)["event_id"] == "y3" for r in rs))
    assert [orjson.loads(r.value)["new_score"] for r in applied if orjson.loads(r.value)["event_id"] == "y3"] == [30]
