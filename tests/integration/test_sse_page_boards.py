"""The live page's board picker in a real headless Chromium (Playwright), on a real ``python -m sse_server``.

The deployment has three boards (``tests.fixtures.sse.BOARDS_FILE``): the picker lists them from
``GET /leaderboards``; choosing ``wins`` re-subscribes the stream with ``board=wins`` (kept in ``?board=``), the
window tabs become that board's (All-time, Daily, Monthly), its rows are shown and its next board arrives live,
while a change of the ``global`` board is not shown there. Choosing the ascending ``fastest`` says so. A page
opened with ``?board=wins#monthly`` starts there. Screenshot: ``test-artifacts/live-page-boards.png``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, expect

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from tests.fixtures.kafka import Topics
from tests.fixtures.sse import board_record, boards_files, named_board_record, produce_board
from tests.integration.test_sse_page import ARTIFACTS, NAMES, START_ROWS, assert_same_origin, requests_of
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration


async def test_the_board_picker_switches_the_stream_and_the_windows(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer, tmp_path: Path,
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    files = boards_files(tmp_path)
    boards = Boards.load(files["boards_file"], ActionCatalog.load(files["actions_file"]))
    wins = boards.get("wins")
    await produce_board(producer, topic, board_record("alltime", 1, START_ROWS, usernames=NAMES))
    await produce_board(producer, topic, named_board_record(wins, "alltime", 1, [("kai", 12), ("ade", 7)]))
    await produce_board(producer, topic, named_board_record(wins, "monthly", 1, [("ade", 3)]))
    _, url = start_sse(topics, SCOREBOARD_ACTIONS_FILE=files["actions_file"],
                       SCOREBOARD_BOARDS_FILE=files["boards_file"])

    page = await browser.new_page(viewport={"width": 900, "height": 760}, device_scale_factor=1)
    urls = requests_of(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/", wait_until="domcontentloaded")
    status, rows, picker = page.locator("#status"), page.locator("#rows tr"), page.locator("#board")
    await expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    await expect(rows).to_have_count(len(START_ROWS), timeout=30_000)
    await expect(picker).to_be_visible(timeout=30_000)
    assert await picker.locator("option").all_text_contents() == ["global", "wins", "fastest"]
    tabs = page.get_by_role("tab")
    await expect(tabs).to_have_text(["All-time", "Daily", "Weekly"])

    await picker.select_option("wins")
    await expect(tabs).to_have_text(["All-time", "Daily", "Monthly"])
    await expect(rows).to_have_count(2, timeout=30_000)
    await expect(page.locator("#rows tr").first).to_have_attribute("data-user-id", "kai")
    await expect(status).to_have_attribute("data-state", "live")
    await expect(page.locator("#subtitle")).to_have_text("wins · All-time leaderboard")
    assert "board=wins" in page.url
    assert any("leaderboard/stream?" in u and "board=wins" in u for u in urls)

    await produce_board(producer, topic, board_record("alltime", 2, [("intruder", 99_999), *START_ROWS]))
    await produce_board(producer, topic, named_board_record(wins, "alltime", 2, [("ade", 20), ("kai", 12)]))
    await expect(page.locator("#rows tr").first).to_have_attribute("data-user-id", "ade", timeout=30_000)
    await expect(page.locator('#rows tr[data-user-id="intruder"]')).to_have_count(0)

    await page.get_by_role("tab", name="Monthly").click()
    await expect(page.locator('#rows tr[data-user-id="ade"]')).to_have_count(1, timeout=30_000)
    await expect(rows).to_have_count(1)
    await expect(page.locator("#subtitle")).to_contain_text("This month")
    await expect(page.locator("#reset")).to_be_visible()
    assert page.url.endswith("#monthly")
    shot = ARTIFACTS / "live-page-boards.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot), full_page=True)

    await picker.select_option("fastest")  # no monthly there: its first window, and its order said
    await expect(tabs).to_have_text(["All-time", "Weekly"])
    await expect(page.get_by_role("tab", name="All-time")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#board-order")).to_have_text("Lowest score ranks first")
    await expect(page.locator("#empty")).to_be_visible(timeout=30_000)

    await picker.select_option("global")
    await expect(page.locator("#rows tr").first).to_have_attribute("data-user-id", "intruder", timeout=30_000)
    assert "board=" not in page.url
    assert errors == []
    assert_same_origin(urls, url)

    opened = await browser.new_page(viewport={"width": 900, "height": 760})
    await opened.goto(f"{url}/?board=wins#monthly", wait_until="domcontentloaded")
    await expect(opened.locator("#board")).to_have_value("wins", timeout=30_000)
    await expect(opened.get_by_role("tab", name="Monthly")).to_have_attribute("aria-selected", "true")
    await expect(opened.locator("#rows tr")).to_have_count(1, timeout=30_000)
    await opened.close()
    await page.close()
