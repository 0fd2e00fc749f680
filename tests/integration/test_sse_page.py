"""The live page in a real headless Chromium (Debian's, installed by ``make browser``) driven by Playwright.

The page is loaded from a real ``python -m sse_server`` process; then a change is made and the new row must
appear without a reload. The change is a small swappable helper (``ChangeMaker``): here it produces the next
board to ``leaderboard-updates``; a pipeline variant can post a score through the write API instead.
A screenshot is kept in ``test-artifacts/live-page.png``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, expect

from tests.fixtures.kafka import Topics
from tests.fixtures.services import ROOT, ServiceProcess
from tests.fixtures.sse import board_record, produce_board

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
