"""The admin routes on the real broker, with no worker running: what the write API records on ``moderation``
(the partition of the user's events, the admin key's id and never the key, one record per partition for a revert)
and how it answers when no worker answers. The answers the worker gives are tested end to end against the real
worker elsewhere; the mapping from answers to statuses is tests/unit/test_moderation_answers.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.moderation import LedgerEntry, ModerationCommand, ModerationResult
from schemas.periods import period_for
from tests.fixtures.api import KEY1
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import ROOT, Supervisor

pytestmark = pytest.mark.integration

ADMIN_KEY = "admin-key-0123456789-secret"
ADMIN = {"x-admin-key": ADMIN_KEY}
USERS = [f"mod-user-{i}" for i in range(8)]
StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]
Records = list[ConsumerRecord[bytes, bytes]]


def _commands(records: Records) -> list[tuple[int, bytes | None, ModerationCommand]]:
    return [(r.partition, r.key, ModerationCommand.model_validate_json(r.value)) for r in records]


async def test_bans_land_in_the_partition_of_the_users_events_with_the_admin_key_id_never_the_key(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics(3)
    process, url = start_api(topics, SCOREBOARD_ADMIN_KEYS=f"ops:{ADMIN_KEY}")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        for user in USERS:
            scored = await client.post("/scores", json={"user_id": user, "action_id": "win_match"},
                                       headers={"x-api-key": KEY1, "prefer": "respond-async"})
            assert scored.status_code == 202
        answers = {user: await client.post(f"/admin/users/{user}/ban", json={"reason": f"bots {user}"},
                                           headers=ADMIN) for user in USERS}
        unban = await client.delete(f"/admin/users/{USERS[0]}/ban", headers=ADMIN, params={"reason": "appeal"})
    for answer in [*answers.values(), unban]:
        assert answer.status_code == 202, answer.text
        assert set(answer.json()) == {"status", "command_id"} and answer.json()["status"] == "accepted"

    events = await consume_until(bootstrap, topics.names.score_events, lambda recs: len(recs) >= len(USERS))
    event_partition = {orjson.loads(r.value)["user_id"]: r.partition for r in events}
    recorded = await consume_until(bootstrap, topics.names.moderation, lambda recs: len(recs) >= len(USERS) + 1)
    assert len({event_partition[u] for u in USERS}) > 1, "the users should spread over partitions"
    for partition, key, command in _commands(recorded):
        assert command.user_id is not None and key == command.user_id.encode()
        assert partition == event_partition[command.user_id]  # co-partitioned with the user's events
        assert command.admin_key_id == "ops"
        if command.action == "ban":
            assert command.command_id == answers[command.user_id].json()["command_id"]
            assert command.reason == f"bots {command.user_id}"
        else:
            assert (command.action, command.reason, command.user_id) == ("unban", "appeal", USERS[0])
            assert command.command_id == unban.json()["command_id"]
    raw = b"".join(r.value for r in recorded)
    assert ADMIN_KEY.encode() not in raw and b"admin-key" not in raw
    assert ADMIN_KEY not in process.output()  # nor in the process's logs


async def test_a_revert_is_recorded_once_in_every_partition_and_without_an_answer_is_202_accepted(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics(3)
    _, url = start_api(topics, SCOREBOARD_ADMIN_KEYS=f"ops:{ADMIN_KEY}", SCOREBOARD_MODERATION_TIMEOUT_MS="300")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        answer = await client.post("/admin/events/idem-abc/revert", json={"reason": "double count"}, headers=ADMIN)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["status"], body["event_id"]) == ("accepted", "idem-abc") and "300 ms" in body["detail"]
    recorded = await consume_until(bootstrap, topics.names.moderation, lambda recs: len(recs) >= 3)
    commands = _commands(recorded)
    assert sorted(p for p, _, _ in commands) == [0, 1, 2]
    assert {(key, c.command_id, c.action, c.event_id, c.admin_key_id, c.reason) for _, key, c in commands} == {
        (b"idem-abc", body["command_id"], "revert", "idem-abc", "ops", "double count")}


async def test_a_ledger_without_a_worker_is_504_after_the_bound(
    make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics(2)
    _, url = start_api(topics, SCOREBOARD_ADMIN_KEYS=f"ops:{ADMIN_KEY}", SCOREBOARD_MODERATION_TIMEOUT_MS="300")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        answer = await client.get("/admin/users/u-1/events", params={"window": "daily"}, headers=ADMIN)
    assert answer.status_code == 504 and "SCOREBOARD_MODERATION_TIMEOUT_MS" in answer.json()["detail"]


async def test_the_listener_hands_moderation_results_to_the_waiting_request(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi, producer: AIOKafkaProducer
) -> None:
    """The plumbing only (answers written by the test on ``moderation-results``, as the worker would): a result
    for the request's command id reaches it, on any partition; not an end-to-end test of moderation."""
    topics = await make_topics(2)
    _, url = start_api(topics, SCOREBOARD_ADMIN_KEYS=f"ops:{ADMIN_KEY}", SCOREBOARD_MODERATION_TIMEOUT_MS="30000")
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        request = asyncio.create_task(client.post("/admin/events/idem-xyz/revert", json={"reason": "r"},
                                                  headers=ADMIN))
        recorded = await consume_until(bootstrap, topics.names.moderation, lambda recs: len(recs) >= 2)
        command_id = _commands(recorded)[0][2].command_id
        for partition, status in ((0, "not_here"), (1, "applied")):
            result = ModerationResult(command_id=command_id, partition=partition, status=status,
                                      user_id="u-9", event_id="idem-xyz", points=25)
            await producer.send_and_wait(topics.names.moderation_results, result.model_dump_json().encode(),
                                         key=command_id.encode(), partition=partition)
        answer = await request
    assert answer.status_code == 202
    assert answer.json() == {"status": "reverted", "event_id": "idem-xyz", "user_id": "u-9", "points": 25,
                             "command_id": command_id}


async def test_a_ledger_names_its_board_and_the_period_current_in_the_boards_zone(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi, producer: AIOKafkaProducer
) -> None:
    """``board=`` goes onto the ledger command (a ban's record names none), the default period is the month current
    in the board's zone (Europe/Berlin), and the worker's answer (written here as the worker would) is the body."""
    topics = await make_topics(2)
    _, url = start_api(topics, SCOREBOARD_ADMIN_KEYS=f"ops:{ADMIN_KEY}", SCOREBOARD_MODERATION_TIMEOUT_MS="30000",
                       SCOREBOARD_BOARDS_FILE=str(ROOT / "schemas" / "boards.example.yaml"))
    berlin = ZoneInfo("Europe/Berlin")
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        months = {period_for("monthly", datetime.now(UTC), berlin)}
        request = asyncio.create_task(client.get("/admin/users/u-led/events", headers=ADMIN,
                                                 params={"board": "fastest-lap-eu", "window": "monthly"}))
        recorded = await consume_until(bootstrap, topics.names.moderation, lambda recs: len(recs) >= 1)
        months.add(period_for("monthly", datetime.now(UTC), berlin))
        ledger = _commands(recorded)[0][2]
        assert (ledger.action, ledger.board, ledger.window, ledger.user_id) == (
            "ledger", "fastest-lap-eu", "monthly", "u-led")
        assert ledger.period in months
        assert orjson.loads(recorded[0].value)["board"] == "fastest-lap-eu"
        entry = LedgerEntry(event_id="idem-l1", action_id="lap_time_ms", points=61234, reverted=False,
                            occurred_at=datetime(2026, 11, 26, 12, tzinfo=UTC))
        result = ModerationResult(command_id=ledger.command_id, partition=recorded[0].partition, status="applied",
                                  user_id="u-led", events=[entry])
        await producer.send_and_wait(topics.names.moderation_results, result.model_dump_json().encode(),
                                     key=ledger.command_id.encode(), partition=recorded[0].partition)
        answer = await request
        ban = await client.post("/admin/users/u-led/ban", json={"reason": "bots"}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": "u-led", "board": "fastest-lap-eu", "window": "monthly",
                             "period": ledger.period, "data": [entry.model_dump(mode="json")]}
    assert ban.status_code == 202
    both = await consume_until(bootstrap, topics.names.moderation, lambda recs: len(recs) >= 2)
    banned = next(orjson.loads(r.value) for r in both if orjson.loads(r.value)["action"] == "ban")
    assert "board" not in banned
