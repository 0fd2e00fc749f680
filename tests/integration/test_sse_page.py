"""The live page in a real headless Chromium (Debian's, installed by ``make browser``) driven by Playwright.

The page is loaded from a real ``python -m sse_server`` process; then a change is made and the new row must
appear without a reload. The change is a small swappable helper (``ChangeMaker``): here it produces the next
board to ``leaderboard-updates``; a pipeline variant can post a score through the write API instead.
A screenshot is kept in ``test-artifacts/live-page.png``.

The find-me box runs on the real pipeline (worker + read API, score events produced to ``score-events``): a player
far below the top is looked up by id, shown at the rank ``GET /leaderboard/users/{id}`` gives, and followed live
to rank 1 over the personal stream (screenshot ``test-artifacts/live-page-find-me.png``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, expect

from tests.fixtures.kafka import Topics
from tests.fixtures.services import ROOT, ServiceProcess
from tests.fixtures.sse import board_record, poll, produce_board

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOT = ARTIFACTS / "live-page.png"

ChangeMaker = Callable[[], Awaitable[str]]  # makes one change, returns the user_id of the new top row

START_ROWS = [("mira", 1840), ("jonas", 1610), ("li-wei", 1525), ("sofia", 1390), ("ade", 1205), ("kai", 990)]
NAMES = {"mira": "Mira K.", "jonas": "Jonas", "li-wei": "Li Wei", "sofia": "Sofía R.", "ade": "Adé",
         "newcomer-42": "Newcomer"}


def produce_next_board(producer: AIOKafkaProducer, topics: Topics) -> ChangeMaker:
    """The change as the stream worker would emit it: the next version of the all-time board."""

    async def change() -> str:
        rows = [("newcomer-42", 2100), *START_ROWS]
        await produce_board(producer, topics.names.leaderboard_updates,
                            board_record("alltime", 2, rows, usernames=NAMES))
        return "newcomer-42"

    return change


async def test_live_page_shows_a_new_row_without_reload(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_sse: Callable[..., tuple[ServiceProcess, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    await produce_board(producer, topics.names.leaderboard_updates,
                        board_record("alltime", 1, START_ROWS, usernames=NAMES))
    _, url = start_sse(topics)
    await check_live_page(browser, url, produce_next_board(producer, topics), SCREENSHOT)


async def check_live_page(browser: Browser, url: str, make_change: ChangeMaker, screenshot: Path) -> None:
    """Load the page, wait for the live board, make a change, see its new row appear with no reload."""
    page = await browser.new_page(viewport={"width": 900, "height": 760}, device_scale_factor=1)
    loads: list[str] = []
    page.on("load", lambda _: loads.append(page.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/", wait_until="domcontentloaded")
    status = page.locator("#status")
    await expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    await expect(page.locator("#rows tr")).to_have_count(len(START_ROWS), timeout=30_000)
    await expect(page.locator('#rows tr[data-user-id="mira"] .name')).to_have_text("Mira K.")
    await page.evaluate("window.__notReloaded = true")
    loads_before = len(loads)

    new_user = await make_change()

    new_row = page.locator(f'#rows tr[data-user-id="{new_user}"]')
    await expect(new_row).to_be_visible(timeout=30_000)
    await expect(new_row).to_have_attribute("data-rank", "1")
    await expect(new_row).to_have_class("new")
    await expect(page.locator('#rows tr[data-user-id="mira"]')).to_have_class("down")
    assert await page.evaluate("window.__notReloaded === true")
    assert len(loads) == loads_before
    await expect(status).to_have_attribute("data-state", "live")
    assert errors == []
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(screenshot), full_page=True)

    await page.get_by_role("tab", name="Daily").click()  # another window: its own stream, empty so far
    await expect(page.locator("#empty")).to_be_visible(timeout=30_000)
    await expect(page.locator("#rows tr")).to_have_count(0)
    await expect(status).to_have_attribute("data-state", "live")
    assert page.url.endswith("#daily")
    await page.close()


async def test_a_128_character_name_never_widens_the_board(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_sse: Callable[..., tuple[ServiceProcess, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    long_id = "é" * 128  # the longest user_id the APIs accept, with no username: the id is shown
    await produce_board(producer, topics.names.leaderboard_updates,
                        board_record("alltime", 1, [(long_id, 10), *START_ROWS], usernames=NAMES))
    _, url = start_sse(topics)
    page = await browser.new_page(viewport={"width": 900, "height": 760})
    await page.goto(f"{url}/", wait_until="domcontentloaded")
    await expect(page.locator("#rows tr")).to_have_count(len(START_ROWS) + 1, timeout=30_000)
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    await expect(page.locator(f'#rows tr[data-user-id="{long_id}"] td.player')).to_have_attribute("title", long_id)
    score = page.locator(f'#rows tr[data-user-id="{long_id}"] td.score')
    assert await score.is_visible() and (await score.bounding_box() or {"x": 1e9})["x"] < widths[1]
    await page.close()


FINDME_TOP_K = 5
CROWD = 30  # players p01..p30 with 10..300 points: the player found starts below all of them
TARGET, TARGET_NAME = "findme-7", "<b>Zoë</b> & co"  # markup in a name must show as text


async def test_find_me_box_follows_a_player_from_far_below_to_rank_1(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer, tmp_path: Path,
    start_worker: Callable[..., ServiceProcess], start_sse: Callable[..., tuple[ServiceProcess, str]],
    browser: Browser,
) -> None:
    topics = await make_topics()
    catalog = tmp_path / "actions.yaml"
    catalog.write_text("".join(f"s{n}: {10 * n}\n" for n in range(1, CROWD + 1)) + "nudge: 1\nboost: 100000\n")
    start_worker(topics, SCOREBOARD_ACTIONS_FILE=str(catalog), SCOREBOARD_TOP_K=str(FINDME_TOP_K))
    _, url = start_sse(topics, SCOREBOARD_TOP_K=str(FINDME_TOP_K))

    async def post(user: str, action: str, event_id: str, username: str | None = None) -> None:
        value = orjson.dumps({"user_id": user, "action_id": action, "event_id": event_id,
                              **({"username": username} if username else {})})
        await producer.send_and_wait(topics.names.score_events, value, key=user.encode())

    for n in range(1, CROWD + 1):
        await post(f"p{n:02d}", f"s{n}", f"crowd-{n}", f"Player {n}")
    await post(TARGET, "nudge", "target-1", TARGET_NAME)

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async def standing_of_target(want_rank: int | None = None) -> dict[str, Any] | None:
            response = await client.get(f"/leaderboard/users/{TARGET}")
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body if want_rank is None or body["rank"] == want_rank else None

        before = await poll(lambda: standing_of_target(CROWD + 1), 60, f"{TARGET} ranked last by the read API")
        assert before["total_players"] == CROWD + 1 and before["score"] == 1

        page = await browser.new_page(viewport={"width": 900, "height": 1000}, device_scale_factor=1)
        loads: list[str] = []
        page.on("load", lambda _: loads.append(page.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        streams: list[str] = []
        page.on("request", lambda req: streams.append(req.url) if "/leaderboard/stream" in req.url else None)
        await page.goto(f"{url}/", wait_until="domcontentloaded")
        await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
        await expect(page.locator("#rows tr")).to_have_count(FINDME_TOP_K, timeout=30_000)
        await expect(page.locator(f'#rows tr[data-user-id="{TARGET}"]')).to_have_count(0)

        box = page.get_by_label("Find a player")
        standing = page.locator("#findme-standing")
        await box.fill("nobody-here")
        await box.press("Enter")
        await expect(standing).to_have_attribute("data-state", "unranked", timeout=30_000)
        await expect(standing).to_contain_text("not on the board")
        await expect(page.locator("#findme-around")).to_be_hidden()

        await box.fill(TARGET)
        await page.get_by_role("button", name="Find").click()
        await expect(standing).to_have_attribute("data-rank", str(before["rank"]), timeout=30_000)
        await expect(standing).to_contain_text(f"rank {before['rank']} of {before['total_players']}")
        await expect(standing).to_contain_text(f"top {before['top_percent']:g}%")
        await expect(standing.locator(".name")).to_have_text(TARGET_NAME)  # the markup as text, not as an element
        assert await standing.locator("b").count() == 0
        around = page.locator("#findme-rows tr")
        await expect(around).to_have_count(4, timeout=30_000)  # radius 3: three above, none below the last
        await expect(page.locator(f'#findme-rows tr[data-user-id="{TARGET}"]')).to_have_attribute(
            "aria-current", "true")
        assert "me=findme-7" in page.url
        assert streams[-1].endswith(f"user_id={TARGET}")  # the personal stream replaced the board stream
        await page.evaluate("window.__notReloaded = true")
        loads_before = len(loads)

        await post(TARGET, "boost", "target-2")  # 100001: first

        await expect(standing).to_have_attribute("data-rank", "1", timeout=30_000)
        await expect(standing).to_contain_text(f"rank 1 of {CROWD + 1}")
        mine = page.locator(f'#rows tr[data-user-id="{TARGET}"]')
        await expect(mine).to_have_attribute("data-rank", "1", timeout=30_000)
        await expect(mine).to_have_attribute("aria-current", "true")
        await expect(page.locator('#findme-rows tr[data-user-id="findme-7"]')).to_have_attribute(
            "data-rank", "1", timeout=30_000)
        await expect(around).to_have_count(4)  # three below the first
        after = await standing_of_target()
        assert after is not None and after["rank"] == 1 and after["score"] == 100_001
        assert await page.evaluate("window.__notReloaded === true") and len(loads) == loads_before
        assert errors == []
        shot = ARTIFACTS / "live-page-find-me.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot), full_page=True)

        await page.goto(f"{url}/", wait_until="domcontentloaded")  # no ?me=: localStorage remembers the player
        await expect(box).to_have_value(TARGET, timeout=30_000)
        await expect(standing).to_have_attribute("data-rank", "1", timeout=30_000)
        assert "me=findme-7" in page.url
        await page.close()
