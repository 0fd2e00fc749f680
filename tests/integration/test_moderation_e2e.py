"""Moderation end to end, as an admin and a game use it: the write API's admin routes, the real worker, the read
API's boards and standings — all on the real broker.

Done-when of the moderation issue: a ban hides and an unban restores the exact total (events posted while banned
included) on all windows and every standings endpoint; a revert is exact on the daily, weekly and all-time boards
and in the next ``new_score``; reverting twice changes nothing (``already_reverted``); an unknown id is 404; the
ledger lists every event with the reverted one marked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.api import KEY1
from tests.fixtures.kafka import Topics
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

ADMIN = "ops:admin-key-0123456789"
ADMIN_HEADERS = {"x-admin-key": "admin-key-0123456789", "content-type": "application/json"}
WINDOWS = ("alltime", "daily", "weekly")
WAIT = "60000"  # the wait bounds: generous, so a slow machine still answers 200/202 with the outcome


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.2)


async def stack(make_topics: Callable[..., Awaitable[Topics]], start_api: Callable[..., tuple[Supervisor, str]],
                start_worker: Callable[..., Supervisor],
                start_sse: Callable[..., tuple[Supervisor, str]]) -> tuple[str, str]:
    topics = await make_topics(partitions=3)
    start_worker(topics)
    _, api = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT, SCOREBOARD_ADMIN_KEYS=ADMIN,
                       SCOREBOARD_MODERATION_TIMEOUT_MS=WAIT)
    _, sse = start_sse(topics)
    return api, sse


async def post(client: httpx.AsyncClient, user: str, action: str, idem: str) -> dict[str, Any]:
    response = await client.post("/scores", content=orjson.dumps({"user_id": user, "action_id": action}),
                                 headers={"content-type": "application/json", "x-api-key": KEY1,
                                          "idempotency-key": idem})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def scores(reads: httpx.AsyncClient, window: str) -> dict[str, int]:
    body = (await reads.get("/leaderboard", params={"window": window, "limit": 10})).json()
    return {row["user_id"]: row["score"] for row in body["data"]}


async def on_every_window(reads: httpx.AsyncClient, want: dict[str, int]) -> bool:
    return all([await scores(reads, w) == want for w in WINDOWS])


async def test_ban_hides_everywhere_and_unban_restores_the_exact_totals(
    make_topics: Callable[..., Awaitable[Topics]], start_api: Callable[..., tuple[Supervisor, str]],
    start_worker: Callable[..., Supervisor], start_sse: Callable[..., tuple[Supervisor, str]],
) -> None:
    api, sse = await stack(make_topics, start_api, start_worker, start_sse)
    async with httpx.AsyncClient(base_url=api, timeout=90) as writes, \
            httpx.AsyncClient(base_url=sse, timeout=30) as reads:
        await post(writes, "ann", "find_secret", "a1")
        await post(writes, "bob", "win_match", "b1")
        await until(lambda: on_every_window(reads, {"ann": 100, "bob": 25}), "both on every board")

        wrong = await writes.post("/admin/users/bob/ban", content=b'{"reason": "x"}',
                                  headers={**ADMIN_HEADERS, "x-admin-key": KEY1})
        assert wrong.status_code == 401  # a write key is not an admin key
        banned = await writes.post("/admin/users/bob/ban", content=b'{"reason": "aimbot"}', headers=ADMIN_HEADERS)
        assert banned.status_code == 202, banned.text
        await until(lambda: on_every_window(reads, {"ann": 100}), "bob gone from every board")
        for path in ("/leaderboard/users/bob", "/leaderboard/around/bob"):
            assert (await reads.get(path)).status_code == 404, path
        friends = (await reads.get("/leaderboard/users", params={"ids": "ann,bob"})).json()
        assert friends["missing"] == ["bob"] and [r["user_id"] for r in friends["data"]] == ["ann"]

        assert (await post(writes, "bob", "find_secret", "b2"))["new_score"] == 125  # counts while banned
        unbanned = await writes.delete("/admin/users/bob/ban", headers=ADMIN_HEADERS)
        assert unbanned.status_code == 202, unbanned.text
        await until(lambda: on_every_window(reads, {"bob": 125, "ann": 100}), "bob back with his exact total")
        me = (await reads.get("/leaderboard/users/bob")).json()
        assert (me["rank"], me["score"]) == (1, 125)


async def test_a_revert_is_exact_everywhere_once_and_the_ledger_shows_it(
    make_topics: Callable[..., Awaitable[Topics]], start_api: Callable[..., tuple[Supervisor, str]],
    start_worker: Callable[..., Supervisor], start_sse: Callable[..., tuple[Supervisor, str]],
) -> None:
    api, sse = await stack(make_topics, start_api, start_worker, start_sse)
    async with httpx.AsyncClient(base_url=api, timeout=90) as writes, \
            httpx.AsyncClient(base_url=sse, timeout=30) as reads:
        events = [await post(writes, "cat", action, f"c{i}")
                  for i, action in enumerate(["win_match", "find_secret", "daily_login"])]
        await until(lambda: on_every_window(reads, {"cat": 130}), "cat at 130 everywhere")
        cheat = events[1]["event_id"]

        reverted = await writes.post(f"/admin/events/{cheat}/revert", content=b'{"reason": "exploit"}',
                                     headers=ADMIN_HEADERS)
        assert reverted.status_code == 202, reverted.text
        assert reverted.json()["status"] == "reverted" and reverted.json()["points"] == 100
        await until(lambda: on_every_window(reads, {"cat": 30}), "the 100 points off every window")
        again = await writes.post(f"/admin/events/{cheat}/revert", content=b'{"reason": "again"}',
                                  headers=ADMIN_HEADERS)
        assert again.status_code == 200 and again.json()["status"] == "already_reverted"
        unknown = await writes.post("/admin/events/idem-never/revert", content=b'{"reason": "?"}',
                                    headers=ADMIN_HEADERS)
        assert unknown.status_code == 404, unknown.text
        assert (await post(writes, "cat", "daily_login", "c9"))["new_score"] == 35  # 30 + 5: the revert counts
        await until(lambda: on_every_window(reads, {"cat": 35}), "the next event on top of the revert")

        ledger = await writes.get("/admin/users/cat/events", params={"window": "weekly"}, headers=ADMIN_HEADERS)
        assert ledger.status_code == 200, ledger.text
        rows = ledger.json()["data"]
        assert [(r["action_id"], r["points"], r["reverted"]) for r in rows] == [
            ("daily_login", 5, False), ("daily_login", 5, False), ("find_secret", 100, True), ("win_match", 25, False)]
        assert rows[2]["event_id"] == cheat
