"""The read/stream API's HTTP layer in-process (httpx.ASGITransport): validation 400s, bodies, health, CORS.

The app runs without a broker; its feed is filled with the same record bytes ``leaderboard-updates`` carries.
Such a feed counts as caught up from the start, so ``/readyz`` cannot be not-ready here: readiness (503 while
the log is unread, then 200) is tested on the real broker (``tests/integration/test_sse_stream.py``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import datetime

import pytest
from pydantic import ValidationError

from sse_server.app import STATIC_DIR
from tests.fixtures.sse import AsgiSse, CodeOnlySseSettings, board_record

pytestmark = pytest.mark.asgi

SseFactory = Callable[..., contextlib.AbstractAsyncContextManager[AsgiSse]]
ROWS = [(f"user-{i:03d}", 1000 - i) for i in range(30)]


@pytest.mark.parametrize("limit", ["0", "-1", "21", "1000"])
async def test_limit_outside_1_to_top_k_is_400(sse_asgi: SseFactory, limit: str) -> None:
    async with sse_asgi(top_k=20) as sse:
        resp = await sse.client.get("/leaderboard", params={"limit": limit})
    assert resp.status_code == 400
    assert "limit" in resp.json()["detail"]


@pytest.mark.parametrize("limit", ["ten", "1.5", ""])
async def test_limit_not_an_integer_is_400_not_422(sse_asgi: SseFactory, limit: str) -> None:
    async with sse_asgi() as sse:
        resp = await sse.client.get("/leaderboard", params={"limit": limit})
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    assert "limit" in resp.json()["detail"]


@pytest.mark.parametrize("path", ["/leaderboard", "/leaderboard/stream"])
@pytest.mark.parametrize("window", ["monthly", "ALLTIME", ""])
async def test_unknown_window_is_400(sse_asgi: SseFactory, path: str, window: str) -> None:
    async with sse_asgi() as sse:
        resp = await sse.client.get(path, params={"window": window})
    assert resp.status_code == 400
    assert "window" in resp.json()["detail"]


async def test_leaderboard_defaults_to_alltime_top_10_with_the_record_version(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        sse.feed(board_record("alltime", 7, ROWS, usernames={"user-000": "Ada"}))
        resp = await sse.client.get("/leaderboard")
    assert resp.status_code == 200
    body = resp.json()
    assert body["window"] == "alltime" and body["period"] is None and body["version"] == 7
    assert [r["rank"] for r in body["data"]] == list(range(1, 11))
    assert body["data"][0] == {"rank": 1, "user_id": "user-000", "username": "Ada", "score": 1000}
    assert body["timestamp"].endswith("Z")


async def test_limit_truncates_and_top_k_is_accepted(sse_asgi: SseFactory) -> None:
    async with sse_asgi(top_k=25) as sse:
        sse.feed(board_record("alltime", 1, ROWS[:25]))
        three = (await sse.client.get("/leaderboard", params={"limit": 3})).json()
        full = (await sse.client.get("/leaderboard", params={"limit": 25})).json()
    assert [r["user_id"] for r in three["data"]] == ["user-000", "user-001", "user-002"]
    assert len(full["data"]) == 25


async def test_daily_and_weekly_serve_the_current_period_board(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        sse.feed(board_record("daily", 4, ROWS[:2]))
        sse.feed(board_record("weekly", 9, ROWS[:3]))
        sse.feed(board_record("daily", 50, ROWS[:5], period="2000-01-01"))  # an old day, not shown
        daily = (await sse.client.get("/leaderboard", params={"window": "daily"})).json()
        weekly = (await sse.client.get("/leaderboard", params={"window": "weekly"})).json()
    assert (daily["version"], len(daily["data"])) == (4, 2)
    assert (weekly["version"], len(weekly["data"])) == (9, 3)
    assert daily["period"] is not None and "-W" in weekly["period"]


async def test_window_without_a_board_is_empty_with_a_version_of_its_own(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        empty = (await sse.client.get("/leaderboard", params={"window": "daily"})).json()
        sse.feed(board_record("daily", 12, ROWS[:2], period="2000-01-01"))
        after_old_day = (await sse.client.get("/leaderboard", params={"window": "daily"})).json()
    today = datetime.fromisoformat(empty["timestamp"]).replace(hour=0, minute=0, second=0, microsecond=0)
    assert empty["data"] == [] and empty["window"] == "daily"
    assert empty["version"] == int(today.timestamp()) * 1_000_000  # the day's start: later than any older day
    assert after_old_day["data"] == [] and after_old_day["version"] == empty["version"]


async def test_invalid_record_is_skipped_and_the_board_kept(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        sse.feed(board_record("alltime", 3, ROWS[:4]))
        sse.feed((b"alltime", b"{not json"))
        sse.feed((b"alltime", b'{"data": [], "window": "alltime"}'))
        sse.feed((b"daily:2026-01-01", board_record("alltime", 9, ROWS[:1])[1]))  # key/window mismatch
        body = (await sse.client.get("/leaderboard")).json()
        metrics = (await sse.client.get("/metrics")).text
    assert body["version"] == 3 and len(body["data"]) == 4
    assert 'scoreboard_sse_records_total{outcome="invalid"} 3.0' in metrics


async def test_tombstone_removes_the_board(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        sse.feed(board_record("alltime", 5, ROWS[:4]))
        sse.feed((b"alltime", None))
        body = (await sse.client.get("/leaderboard")).json()
    assert body["data"] == [] and body["version"] == 6  # the empty board is a state of its own


async def test_health_metrics_and_page(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        health = await sse.client.get("/healthz")
        metrics = await sse.client.get("/metrics")
        page = await sse.client.get("/")
        script = await sse.client.get("/app.js")
        missing = await sse.client.get("/nope")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert "scoreboard_sse_clients" in metrics.text and "scoreboard_sse_boards" in metrics.text
    assert "process_cpu_seconds_total " in metrics.text and "process_resident_memory_bytes " in metrics.text
    assert "_created" not in metrics.text
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "EventSource" in script.text
    assert missing.status_code == 404


async def test_cors_only_for_configured_origins(sse_asgi: SseFactory) -> None:
    origin = {"Origin": "https://game.example"}
    async with sse_asgi(cors_origins="https://game.example,https://other.example") as sse:
        allowed = await sse.client.get("/leaderboard", headers=origin)
        refused = await sse.client.get("/leaderboard", headers={"Origin": "https://evil.example"})
    async with sse_asgi() as sse:
        default = await sse.client.get("/leaderboard", headers=origin)
    assert allowed.headers.get("access-control-allow-origin") == "https://game.example"
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in default.headers


async def test_page_config_gives_the_default_title_and_accent(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        resp = await sse.client.get("/page-config.json")
        spec = (await sse.client.get("/openapi.json")).json()
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json() == {"title": "Scoreboard", "accent": "#6c8cff"}
    assert "/page-config.json" not in spec["paths"]  # the page's own plumbing, not part of the API


async def test_page_config_carries_a_hostile_title_as_json_text(sse_asgi: SseFactory) -> None:
    title = '</script><img src=x onerror=alert(1)> "Cup" & co'
    async with sse_asgi(page_title=title, page_accent="rgb(255 176 0)") as sse:
        resp = await sse.client.get("/page-config.json")
    assert resp.json() == {"title": title, "accent": "rgb(255 176 0)"}  # data for textContent, never markup


@pytest.mark.parametrize("accent", ["#fff", "#FFB000", "#ffb00080", "rgb(255, 176, 0)", "rgba(1 2 3 / 50%)",
                                    "hsl(210deg 80% 60%)", "RebeccaPurple", " teal "])
def test_page_accent_takes_css_colours(accent: str) -> None:
    assert CodeOnlySseSettings(page_accent=accent).page_accent == accent.strip()


@pytest.mark.parametrize("accent", ["", "#12345", "#ggg", "notacolour", "red; background: url(https://evil.example/)",
                                    "url(https://evil.example/x.png)", "var(--text)", "expression(alert(1))",
                                    "rgb(1, 2)", "javascript:alert(1)", "red</style><script>"])
def test_page_accent_refuses_anything_but_a_colour(accent: str) -> None:
    with pytest.raises(ValidationError, match="page_accent|SCOREBOARD_PAGE_ACCENT"):
        CodeOnlySseSettings(page_accent=accent)


@pytest.mark.parametrize("title", ["", "   ", "x" * 81, "two\nlines", "bell\x07", "bidi \u202e override"])
def test_page_title_refuses_empty_long_or_control_text(title: str) -> None:
    with pytest.raises(ValidationError, match="page_title|SCOREBOARD_PAGE_TITLE"):
        CodeOnlySseSettings(page_title=title)


async def test_the_page_and_its_favicon_are_served_locally(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        icon = await sse.client.get("/favicon.svg")
        page = (await sse.client.get("/")).text
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon" href="favicon.svg"' in page
    for name in ("index.html", "app.js", "style.css"):  # nothing fetched from elsewhere: no CDN, no web font
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/|@import|@font-face", text, re.IGNORECASE), name
