"""The live page in a real headless Chromium (Debian's, installed by ``make browser``) driven by Playwright.

The page is loaded from a real ``python -m sse_server`` process; then a change is made and the new row must
appear without a reload. The change is a small swappable helper (``ChangeMaker``): here it produces the next
board to ``leaderboard-updates``; a pipeline variant can post a score through the write API instead.
A screenshot is kept in ``test-artifacts/live-page.png``.

The find-me box runs on the real pipeline (worker + read API, score events produced to ``score-events``): a player
far below the top is looked up by id, shown at the rank ``GET /leaderboard/users/{id}`` gives, and followed live
to rank 1 over the personal stream (screenshot ``test-artifacts/live-page-find-me.png``).

Movement is against what the viewer last saw: a burst of boards moving a player from 7th to 1st shows "▲ 6" even
when the last board of the burst did not move them (``live-page-burst.png``). The page also works at phone width
(``live-page-phone.png``), shows the countdown to the next reset in the viewer's time zone, takes its title and
accent colour from the settings (a title with markup is text: ``live-page-config.png``), and fetches nothing from
outside the server's origin.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, expect

from schemas.periods import board_id, period_for
from tests.fixtures.kafka import Topics
from tests.fixtures.sse import board_record, poll, produce_board, standing_record
from tools.supervisor import ROOT, Supervisor

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
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
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
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
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
    start_worker: Callable[..., Supervisor], start_sse: Callable[..., tuple[Supervisor, str]],
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
        # the whole board's count, not the top 5's (a board's total_players is as of its last change: this one's)
        await expect(page.locator("#players")).to_have_text(f"{CROWD + 1} players")
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


# counts the FLIP slides (Element.animate with a transform) the page starts, before any page script runs
COUNT_SLIDES = """
window.__slides = 0;
const animate = Element.prototype.animate;
Element.prototype.animate = function (frames, options) {
  if (Array.isArray(frames) && frames.some((f) => f && f.transform)) window.__slides += 1;
  return animate.call(this, frames, options);
};
"""
GREEN = "rgb(47, 210, 141)"  # --up
HOLD_MS = 4000  # app.js: how long a change stays marked after its latest step


async def pause_clock(page: Page) -> None:
    """Stop the page's (installed) clock a second ahead: no timer fires until ``page.clock.run_for``."""
    await page.clock.pause_at(await page.evaluate("Date.now()") / 1000 + 1)


def requests_of(page: Page) -> list[str]:
    """Every URL the page requests, from now on."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_same_origin(urls: list[str], origin: str) -> None:
    outside = [u for u in urls if not (u.startswith(f"{origin}/") or u.startswith("data:"))]
    assert urls and not outside, f"requests outside {origin}: {outside}"


async def assert_no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


async def produce_burst(producer: AIOKafkaProducer, topic: str, *records: tuple[bytes, bytes]) -> None:
    """The records sent back to back (one key: one partition, in order), then every ack awaited."""
    sent = [await producer.send(topic, value, key=key) for key, value in records]
    for ack in sent:
        await ack


BURST_START = [*START_ROWS, ("noor", 900)]  # noor 7th
NAMES_BURST = {**NAMES, "noor": "Noor"}  # kai has no username: his id is shown


async def test_a_burst_shows_the_move_since_the_viewer_last_looked(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    await produce_board(producer, topic, board_record("alltime", 1, BURST_START, usernames=NAMES_BURST))
    _, url = start_sse(topics)
    page = await browser.new_page(viewport={"width": 900, "height": 900}, device_scale_factor=1)
    await page.clock.install()  # runs as usual until paused: then marks expire only when the test says so
    await page.add_init_script(COUNT_SLIDES)
    urls = requests_of(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/", wait_until="domcontentloaded")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
    rows = page.locator("#rows tr")
    await expect(rows).to_have_count(len(BURST_START), timeout=30_000)
    noor = page.locator('#rows tr[data-user-id="noor"]')
    mira = page.locator('#rows tr[data-user-id="mira"]')
    await expect(noor).to_have_attribute("data-rank", "7")
    # names, not ids: the id only where there is no name (kai), and kept in the title
    await expect(page.locator('#rows tr[data-user-id="li-wei"] .name')).to_have_text("Li Wei")
    await expect(page.locator('#rows tr[data-user-id="li-wei"] td.player')).to_have_attribute(
        "title", "Li Wei (id: li-wei)")
    await expect(page.locator('#rows tr[data-user-id="kai"] .name')).to_have_text("kai")
    await expect(page.locator("#players")).to_have_text(f"{len(BURST_START)} players")
    await expect(page.locator("#reset")).to_be_hidden()  # the all-time board never resets
    await pause_clock(page)

    def board(version: int, changes: dict[str, int]) -> tuple[bytes, bytes]:
        scores = {**dict(BURST_START), **changes}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])  # stable: a tie keeps the earlier player first
        return board_record("alltime", version, ranked, usernames=NAMES_BURST)

    # noor 7th -> 5th -> 2nd -> 1st; the last board moves noor no further (mira scores but is passed; jonas and
    # li-wei end tied on 1610)
    await produce_burst(producer, topic, board(2, {"noor": 1300}), board(3, {"noor": 1700}),
                        board(4, {"noor": 2000}), board(5, {"noor": 2000, "mira": 1900, "li-wei": 1610}))

    await expect(noor).to_have_attribute("data-rank", "1", timeout=30_000)
    await expect(page.locator('#rows tr[data-user-id="li-wei"]')).to_have_attribute("data-tie", "true",
                                                                                     timeout=30_000)
    await expect(noor.locator("td.move")).to_have_text("▲ 6")  # against the board seen, not the one before
    await expect(noor).to_have_class("up")
    await expect(noor.locator("td.score .delta")).to_have_text("+1,100")
    await expect(mira).to_have_class("down")
    await expect(mira.locator("td.move")).to_have_text("▼ 1")
    mira_gain = mira.locator("td.score .delta")
    await expect(mira_gain).to_have_text("+60")
    assert await mira_gain.evaluate("e => getComputedStyle(e).color") != GREEN  # passed: never flashed green
    assert await mira.evaluate("e => e.getAnimations().every(a => a.animationName !== 'flash-up')")
    # ties are marked, the rule explained in a title and in the note under the board
    jonas = page.locator('#rows tr[data-user-id="jonas"]')
    await expect(jonas).to_have_attribute("data-tie", "true")
    await expect(jonas.locator("td.rank")).to_have_attribute("title", re.compile("who reached it first ranks higher"))
    await expect(page.locator("#tie-note")).to_be_visible()
    await expect(page.locator('#rows tr[data-user-id="sofia"]')).not_to_have_attribute("data-tie", "true")
    assert await page.evaluate("window.__slides") > 0  # rows slid to their new place
    # no raw version number anywhere on the page
    assert not re.search(r"\bv\d+\b", await page.locator("body").inner_text())
    shot = ARTIFACTS / "live-page-burst.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot), full_page=True)

    # once seen long enough, the marks go: what is shown is the new baseline for the next move
    await page.clock.run_for(HOLD_MS + 1000)
    await expect(noor.locator("td.move")).to_have_text("", timeout=30_000)
    await expect(noor.locator("td.score .delta")).to_have_count(0)
    await produce_board(producer, topic, board(6, {"noor": 1850, "mira": 1900, "li-wei": 1610}))
    await expect(noor).to_have_attribute("data-rank", "2", timeout=30_000)
    await expect(noor.locator("td.move")).to_have_text("▼ 1")  # from 1st as last seen, not 7th
    await expect(noor.locator("td.score .delta")).to_have_text("−150")
    assert await noor.locator("td.score .delta").evaluate("e => getComputedStyle(e).color") != GREEN
    await expect(noor).to_have_class("down")
    assert errors == []
    assert_same_origin(urls, url)
    await page.close()


async def test_the_page_at_phone_width_with_the_reset_countdown_and_reduced_motion(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    long_name = "Ωmega " * 21  # a 126-character name
    rows = [("lengthy", 5000), *START_ROWS, ("w" * 128, 100)]
    names = {**NAMES, "lengthy": long_name}
    await produce_board(producer, topic, board_record("alltime", 1, rows, usernames=names))
    await produce_board(producer, topic, board_record("daily", 1, rows, usernames=names))
    daily_board = board_id("daily", period_for("daily", datetime.now(UTC)))
    for since, (user, points) in enumerate(rows):  # the rank index, for the find-me box
        await produce_board(producer, topics.names.user_standings,
                            standing_record(user, {"alltime": (points, since), daily_board: (points, since)},
                                            names.get(user)))
    _, url = start_sse(topics)
    # India is UTC+05:30: the daily and weekly resets (00:00 UTC) are at 05:30 local time
    page = await browser.new_page(viewport={"width": 375, "height": 800}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-GB", timezone_id="Asia/Kolkata",
                                  reduced_motion="reduce")
    await page.clock.install()
    await page.add_init_script(COUNT_SLIDES)
    urls = requests_of(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/?me=sofia#daily", wait_until="domcontentloaded")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
    await expect(page.locator("#rows tr")).to_have_count(len(rows), timeout=30_000)
    await expect(page.locator("#findme-standing")).to_contain_text("Sofía R.", timeout=30_000)
    await assert_no_sideways_scroll(page)
    score = page.locator('#rows tr[data-user-id="lengthy"] td.score')
    assert (await score.bounding_box() or {"x": 1e9, "width": 0})["x"] + (await score.bounding_box() or {
        "width": 1e9})["width"] <= 375

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        daily = (await client.get("/leaderboard", params={"window": "daily"})).json()
        weekly = (await client.get("/leaderboard", params={"window": "weekly"})).json()
    reset, reset_in, reset_at = page.locator("#reset"), page.locator("#reset-in"), page.locator("#reset-at")
    await expect(reset).to_be_visible()
    shown_at = await reset_at.get_attribute("datetime")
    assert shown_at is not None
    assert datetime.fromisoformat(shown_at) == datetime.fromisoformat(daily["period_end"])
    await expect(reset_at).to_contain_text("05:30")  # the viewer's local time
    await expect(reset_in).to_have_text(re.compile(r"^(\d+h \d\dm \d\ds|\d+m \d\ds|\d+s)$"))
    first = await reset_in.text_content()
    await expect(reset_in).not_to_have_text(first or "", timeout=5_000)  # it counts down
    await pause_clock(page)  # from here the marks stay until the test moves the page's clock

    kai_first = [("kai", 9000), *(row for row in rows if row[0] != "kai")]
    await produce_board(producer, topic, board_record("daily", 2, kai_first, usernames=names))
    kai = page.locator('#rows tr[data-user-id="kai"]')
    await expect(kai).to_have_attribute("data-rank", "1", timeout=30_000)
    await expect(kai.locator("td.move")).to_have_text("▲ 6")
    assert await page.evaluate("window.__slides") == 0  # prefers-reduced-motion: no sliding
    await assert_no_sideways_scroll(page)
    shot = ARTIFACTS / "live-page-phone.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot), full_page=True)

    await page.get_by_role("tab", name="Weekly").click()
    await expect(reset_at).to_have_attribute("datetime", re.compile(r"T00:00:00"), timeout=30_000)
    shown_at = await reset_at.get_attribute("datetime")
    assert shown_at is not None
    assert datetime.fromisoformat(shown_at) == datetime.fromisoformat(weekly["period_end"])
    await expect(reset_at).to_contain_text("Mon 05:30")
    await assert_no_sideways_scroll(page)
    await page.get_by_role("tab", name="All-time").click()
    await expect(page.locator("#rows tr")).to_have_count(len(rows), timeout=30_000)
    await expect(reset).to_be_hidden()
    await assert_no_sideways_scroll(page)
    assert errors == []
    assert_same_origin(urls, url)
    await page.close()


HOSTILE_TITLE = '<img src=/x onerror=__pwned=1>Zoë\'s "Cup" &</title><script>__pwned=2</script>'  # 77 of the 80 allowed


async def test_the_title_and_accent_come_from_the_settings_and_a_title_is_text(
    make_topics: Callable[..., Awaitable[Topics]], producer: AIOKafkaProducer,
    start_sse: Callable[..., tuple[Supervisor, str]], browser: Browser,
) -> None:
    topics = await make_topics()
    await produce_board(producer, topics.names.leaderboard_updates,
                        board_record("alltime", 1, START_ROWS, usernames=NAMES))
    _, url = start_sse(topics, SCOREBOARD_PAGE_TITLE=HOSTILE_TITLE, SCOREBOARD_PAGE_ACCENT="#ffb000")
    page = await browser.new_page(viewport={"width": 900, "height": 760}, device_scale_factor=1)
    urls = requests_of(page)
    await page.goto(f"{url}/", wait_until="domcontentloaded")
    heading = page.locator("h1")
    await expect(heading).to_have_text(HOSTILE_TITLE, timeout=30_000)
    await expect(page).to_have_title(f"{HOSTILE_TITLE} · live leaderboard")
    assert await heading.locator("img, script").count() == 0
    assert await page.locator("body img").count() == 0
    tab = page.get_by_role("tab", name="All-time")
    await expect(tab).to_have_css("background-color", "rgb(255, 176, 0)")
    await expect(tab).to_have_css("color", "rgb(11, 16, 32)")  # a light accent gets dark text
    await expect(page.locator("#rows tr")).to_have_count(len(START_ROWS), timeout=30_000)
    assert await page.evaluate("window.__pwned === undefined")
    assert not any(u.endswith("/x") for u in urls)
    icon = await page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon == f"{url}/favicon.svg"
    shot = ARTIFACTS / "live-page-config.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot), full_page=True)
    assert_same_origin(urls, url)
    await page.close()
