"""The whole pipeline on the real broker: POST /scores -> worker -> leaderboard-updates -> GET and SSE -> browser."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from playwright.async_api import Browser, expect

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import next_update, poll
from tools.supervisor import ROOT, Supervisor

pytestmark = pytest.mark.integration

KEY = "e2e-key"
CATALOG = "p10: 10\np25: 25\np40: 40\np100: 100\npenalty: -30\n"
WINDOWS = ("alltime", "daily", "weekly")


class Stack:
    def __init__(self, api: str, sse: str) -> None:
        self.api = api
        self.sse = sse

    async def post(self, client: httpx.AsyncClient, user: str, action: str, name: str | None = None) -> int:
        body = {"user_id": user, "action_id": action, **({"username": name} if name else {})}
        response = await client.post(f"{self.api}/scores", json=body, headers={"X-API-KEY": KEY})
        assert response.status_code == 200, response.text
        return int(response.json()["new_score"])


@pytest.fixture
async def stack(
    make_topics: Callable[..., Awaitable[Topics]], tmp_path: Path,
    start_worker: Callable[..., Supervisor],
    start_api: Callable[..., tuple[Supervisor, str]],
    start_sse: Callable[..., tuple[Supervisor, str]],
) -> AsyncIterator[Stack]:
    topics = await make_topics(partitions=3)
    catalog = tmp_path / "actions.yaml"
    catalog.write_text(CATALOG)
    start_worker(topics, SCOREBOARD_ACTIONS_FILE=str(catalog), SCOREBOARD_TOP_K="10")
    _, api = start_api(topics, api_keys=KEY, SCOREBOARD_ACTIONS_FILE=str(catalog), SCOREBOARD_REPLY_TIMEOUT_MS="20000")
    _, sse = start_sse(topics, SCOREBOARD_TOP_K="10")
    yield Stack(api, sse)


def ranking(body: dict) -> list[tuple[int, str, int]]:  # type: ignore[type-arg]
    return [(row["rank"], row["user_id"], row["score"]) for row in body["data"]]


async def test_posted_scores_reach_get_and_sse_for_all_windows(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30) as client, contextlib.AsyncExitStack() as open_streams:
        streams = {}
        for window in WINDOWS:  # open the streams first: they must see the changes live
            source = await open_streams.enter_async_context(
                aconnect_sse(client, "GET", f"{stack.sse}/leaderboard/stream", params={"window": window}))
            assert source.response.status_code == 200
            streams[window] = source.aiter_sse()
            first = await next_update(streams[window])  # the current (empty) board at connect
            assert first.json()["data"] == []

        assert await stack.post(client, "ann", "p40", "Ann") == 40
        assert await stack.post(client, "bob", "p25", "Bob") == 25
        assert await stack.post(client, "cat", "p100", "Cat") == 100
        assert await stack.post(client, "bob", "p25") == 50
        assert await stack.post(client, "cat", "penalty") == 70  # scores go down too
        assert await stack.post(client, "dan", "p10", "Dan") == 10
        assert await stack.post(client, "ann", "p10") == 50  # ties with bob, who reached 50 first
        want = [(1, "cat", 70), (2, "bob", 50), (3, "ann", 50), (4, "dan", 10)]

        for window in WINDOWS:
            async def current(w: str = window) -> bool:
                body = (await client.get(f"{stack.sse}/leaderboard", params={"window": w, "limit": 10})).json()
                return ranking(body) == want

            await poll(current, 60, f"GET /leaderboard?window={window} shows the posted scores")
            body = (await client.get(f"{stack.sse}/leaderboard", params={"window": window, "limit": 2})).json()
            assert ranking(body) == want[:2] and body["window"] == window
            assert body["data"][0]["username"] == "Cat" and body["data"][2 - 1]["username"] == "Bob"

            events = streams[window]
            seen: list[ServerSentEvent] = []
            while not seen or ranking(seen[-1].json()) != want:
                seen.append(await next_update(events, timeout=60))
            ids = [int(ev.id) for ev in seen]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)  # versions only grow
            assert seen[-1].json()["version"] == body["version"] == ids[-1]  # same state, same version


async def test_live_page_shows_a_posted_score_without_reload(
    stack: Stack, browser: Browser,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for user, action in [("mira", "p100"), ("jonas", "p40"), ("sofia", "p25")]:
            await stack.post(client, user, action, user.title())
        page = await browser.new_page(viewport={"width": 900, "height": 700})
        reloads: list[str] = []
        page.on("load", lambda _: reloads.append(page.url))
        await page.goto(f"{stack.sse}/", wait_until="domcontentloaded")
        await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
        await expect(page.locator("#rows tr")).to_have_count(3, timeout=30_000)
        loads = len(reloads)

        await stack.post(client, "newcomer", "p100", "Newcomer")
        await stack.post(client, "newcomer", "p40")  # 140: new leader

        row = page.locator('#rows tr[data-user-id="newcomer"]')
        await expect(row).to_be_visible(timeout=30_000)
        await expect(row).to_have_attribute("data-rank", "1")
        await expect(page.locator('#rows tr[data-user-id="mira"]')).to_have_attribute("data-rank", "2")
        assert len(reloads) == loads  # no reload: it came over the EventSource
        shot = ROOT / "test-artifacts" / "live-page-pipeline.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot), full_page=True)
        await page.close()
