"""The admin routes' HTTP layer without a broker (``create_app(..., with_broker=False)``): the admin key check
(401, a write key is no admin key), the routes off without admin keys in prod (404), validation (400), the body
limit (413), the admin rate limit (429), keys never in the logs, the metrics labels and the OpenAPI. What the
command looks like on ``moderation`` is tests/integration/test_api_moderation.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI

from producer_api.app import create_app
from producer_api.moderation import ledger_period_out_of_range
from producer_api.settings import DEV_ADMIN_KEY
from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from schemas.moderation import ModerationCommand
from tests.fixtures.api import KEY1, api_settings, asgi_client

pytestmark = pytest.mark.asgi

ADMIN_KEY = "admin-key-0123456789"
ADMIN = {"x-admin-key": ADMIN_KEY}
ROUTES = (("POST", "/admin/users/u-1/ban", {"reason": "bots"}), ("DELETE", "/admin/users/u-1/ban", None),
          ("POST", "/admin/events/idem-e1/revert", {"reason": "bots"}), ("GET", "/admin/users/u-1/events", None))
PROD = {"env": "prod", "api_keys": ("acme:write-key-0123456789",), "event_id_secret": "s" * 32}


def admin_app(**overrides: object) -> FastAPI:
    return create_app(api_settings(**{"admin_keys": (f"ops:{ADMIN_KEY}",), **overrides}), with_broker=False)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_admin_route_needs_the_admin_key_and_a_write_key_is_not_one(
    method: str, path: str, body: object
) -> None:
    async with asgi_client(admin_app()) as client:
        assert (await client.request(method, path, json=body)).status_code == 401
        as_writer = await client.request(method, path, json=body, headers={"x-api-key": KEY1, "x-admin-key": KEY1})
        assert as_writer.status_code == 401 and as_writer.json()["detail"].startswith("missing or invalid admin key")
        wrong = await client.request(method, path, json=body, headers={"x-admin-key": ADMIN_KEY + "x"})
        assert wrong.status_code == 401
        # past the key: no broker in this app, so nothing can be recorded (503), never a 401
        recorded = await client.request(method, path, json=body, headers=ADMIN)
        assert recorded.status_code == 503 and recorded.json()["status"] == "not_written"
        assert recorded.headers["retry-after"] == "1" and len(recorded.json()["command_id"]) == 32


async def test_an_admin_key_is_not_a_write_key() -> None:
    async with asgi_client(admin_app()) as client:
        post = await client.post("/scores", json={"user_id": "u", "action_id": "win_match"},
                                 headers={"x-api-key": ADMIN_KEY})
        assert post.status_code == 401
        assert (await client.get("/actions", headers={"x-api-key": ADMIN_KEY})).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_without_admin_keys_the_admin_routes_are_404_in_prod(method: str, path: str, body: object) -> None:
    app = create_app(api_settings(**PROD), with_broker=False)
    async with asgi_client(app) as client:
        for headers in ({}, {"x-admin-key": ADMIN_KEY}, {"x-admin-key": DEV_ADMIN_KEY.partition(":")[2]}):
            assert (await client.request(method, path, json=body, headers=headers)).status_code == 404


async def test_in_dev_without_admin_keys_the_dev_admin_key_opens_them() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        dev = {"x-admin-key": DEV_ADMIN_KEY.partition(":")[2]}
        assert (await client.delete("/admin/users/u-1/ban", headers=dev)).status_code == 503  # past the key
        assert (await client.delete("/admin/users/u-1/ban", headers=ADMIN)).status_code == 401


async def test_an_admin_path_nothing_serves_is_404_with_or_without_the_key() -> None:
    async with asgi_client(admin_app()) as client:
        for path in ("/admin/", "/admin/users", "/admin/users/u-1/bans", "/admin/users/a/b/ban"):
            assert (await client.post(path, headers=ADMIN)).status_code == 404
            assert (await client.post(path)).status_code == 404
        assert (await client.get("/admin/users/u-1/ban", headers=ADMIN)).status_code == 405


@pytest.mark.parametrize(("method", "path", "body", "problem"), [
    ("POST", "/admin/users/u-1/ban", None, "invalid request: body: Field required"),
    ("POST", "/admin/users/u-1/ban", {}, "reason: Field required"),
    ("POST", "/admin/users/u-1/ban", {"reason": "   "}, "reason: String should have at least 1 character"),
    ("POST", "/admin/users/u-1/ban", {"reason": "x" * 501}, "reason: String should have at most 500 characters"),
    ("POST", "/admin/users/u-1/ban", {"reason": "x", "extra": 1}, "extra: Extra inputs are not permitted"),
    ("POST", "/admin/users/%E2%80%AEu/ban", {"reason": "x"}, "user_id: Value error, must not contain bidi"),
    ("POST", f"/admin/users/{'u' * 129}/ban", {"reason": "x"}, "user_id: String should have at most 128"),
    ("POST", "/admin/events/idem-e1/revert", {"reason": ""}, "reason: String should have at least 1 character"),
    ("POST", f"/admin/events/{'e' * 256}/revert", {"reason": "x"}, "event_id: String should have at most 255"),
    ("POST", "/admin/events/a%0Ab/revert", {"reason": "x"}, "event_id: Value error, must not contain control"),
    ("POST", "/admin/events/e-1/revert", {"reason": "a\u0000b"}, "reason: Value error, must not contain control"),
    ("POST", "/admin/users/u-1/ban", {"reason": "x \u202e y"}, "reason: Value error, must not contain bidi"),
    ("GET", "/admin/users/u-1/events?window=yearly", None, "window: Input should be 'alltime', 'daily', 'weekly'"),
    ("GET", "/admin/users/u-1/events?window=monthly", None, "window: board 'global' has no monthly window (its "
                                                            "windows: alltime, daily, weekly)"),
    ("GET", "/admin/users/u-1/events?board=speed", None, "board: unknown board 'speed'; boards: global"),
    ("GET", "/admin/users/u-1/events?board=Global", None, "board: unknown board 'Global'"),
    ("GET", f"/admin/users/u-1/events?board={'b' * 65}", None, "board: String should have at most 64 characters"),
    ("GET", "/admin/users/u-1/events?window=daily&period=2026-13-01", None, "period: '2026-13-01' is not a daily"),
    ("GET", "/admin/users/u-1/events?window=weekly&period=2026-12-01", None, "period: '2026-12-01' is not a weekly"),
    ("GET", "/admin/users/u-1/events?period=2026-12-01", None, "period: the alltime window has no periods"),
    ("GET", "/admin/users/u-1/events?limit=0", None, "limit: Input should be greater than or equal to 1"),
    ("GET", "/admin/users/u-1/events?limit=1001", None, "limit: Input should be less than or equal to 1000"),
])
async def test_bad_input_is_400_naming_it(method: str, path: str, body: object, problem: str) -> None:
    async with asgi_client(admin_app()) as client:
        response = await client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"].replace("bidirectional override or isolate characters", "bidi")
    assert problem in detail, detail


async def test_a_body_over_the_limit_is_413() -> None:
    async with asgi_client(admin_app(max_body_bytes=100)) as client:
        response = await client.post("/admin/users/u-1/ban", json={"reason": "x" * 200}, headers=ADMIN)
    assert response.status_code == 413


async def test_beyond_the_admin_rate_limit_is_429_with_retry_after_per_admin_key_id() -> None:
    app = admin_app(admin_keys=(f"ops:{ADMIN_KEY}", "ops:admin-key-rotated-0123", "eve:admin-key-of-eve-0123"),
                    admin_rate_limit="2/minute")
    async with asgi_client(app) as client:
        codes = [(await client.delete("/admin/users/u-1/ban", headers=h)).status_code
                 for h in (ADMIN, {"x-admin-key": "admin-key-rotated-0123"}, ADMIN)]
        other = await client.delete("/admin/users/u-1/ban", headers={"x-admin-key": "admin-key-of-eve-0123"})
        writes = await client.post("/scores", json={"user_id": "u", "action_id": "win_match"},
                                   headers={"x-api-key": KEY1})
        metrics = (await client.get("/metrics")).text
    assert codes == [503, 503, 429]  # one budget per key id, whichever of its keys
    assert other.status_code == 503 and writes.status_code == 503  # other ids, and POST /scores, are not limited
    assert "scoreboard_api_admin_rate_limited_total 1.0" in metrics


async def test_no_key_ever_reaches_the_logs_and_admin_routes_are_counted_by_template(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with asgi_client(admin_app()) as client:
        for method, path, body in ROUTES:
            await client.request(method, f"{path}?x={ADMIN_KEY}" if method == "GET" else path, json=body,
                                 headers={**ADMIN, "x-api-key": KEY1})
            await client.request(method, path, json=body, headers={"x-admin-key": "wrong-admin-key-000"})
        metrics = (await client.get("/metrics")).text
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]  # the client logs its own URLs
    logged = "".join(f"{r.getMessage()} {r.args}" for r in ours)
    assert ADMIN_KEY not in logged and "wrong-admin-key" not in logged and KEY1 not in logged
    assert "DELETE /admin/users/u-1/ban 503" in logged  # the access log line: method, path, status (no query)
    assert 'scoreboard_api_requests_total{code="503",method="DELETE",route="/admin/users/{user_id}/ban"} 1.0' in metrics
    assert 'scoreboard_api_admin_actions_total{action="ban",outcome="not_written"} 1.0' in metrics
    assert "u-1" not in metrics  # labels are route templates, never user ids


async def test_the_openapi_has_the_moderation_tag_and_the_admin_key_scheme() -> None:
    async with asgi_client(admin_app()) as client:
        schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["AdminKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-ADMIN-KEY",
        "description": "One of SCOREBOARD_ADMIN_KEYS (never an API key)."}
    operations = {(m, p): op for p, ops in schema["paths"].items() if p.startswith("/admin/") for m, op in ops.items()}
    assert set(operations) == {("post", "/admin/users/{user_id}/ban"), ("delete", "/admin/users/{user_id}/ban"),
                               ("post", "/admin/events/{event_id}/revert"), ("get", "/admin/users/{user_id}/events")}
    for op in operations.values():
        assert op["tags"] == ["moderation"] and op["security"] == [{"AdminKeyHeader": []}]
        assert {"400", "401", "404", "429", "503"} <= set(op["responses"])
        assert op["responses"].get("422", {}).get("description") != "Validation Error"
    revert = operations[("post", "/admin/events/{event_id}/revert")]["responses"]
    assert {"200", "202", "404", "410", "504"} <= set(revert)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(("period", "status", "words"), [
    ("2099-01-01", 404, "has not begun"), ("2099-W01", 404, "has not begun"),
    ("2000-01-01", 410, "ended before the revert horizon"),
])
async def test_a_ledger_period_not_begun_is_404_and_one_past_the_horizon_410(period: str, status: int,
                                                                               words: str) -> None:
    window = "weekly" if "W" in period else "daily"
    async with asgi_client(admin_app()) as client:
        response = await client.get("/admin/users/u-1/events", params={"window": window, "period": period},
                                    headers=ADMIN)
    assert response.status_code == status and words in response.json()["detail"], response.text


# --- the ledger of a board of SCOREBOARD_BOARDS_FILE ---------------------------------------------------------------

BOARDS = """
versus: {actions: [win_match], windows: [alltime, daily]}
fastest-lap-eu: {actions: [lap_time_ms], aggregation: min, value: true, timezone: Europe/Berlin,
                 windows: [alltime, monthly]}
"""


@pytest.fixture
def boards_app(tmp_path: Path) -> FastAPI:
    catalog = tmp_path / "actions.yaml"
    catalog.write_text("win_match: 25\nlap_time_ms: {min: 1, max: 3600000}\n")
    boards = tmp_path / "boards.yaml"
    boards.write_text(BOARDS)
    return admin_app(actions_file=catalog, boards_file=boards)


@pytest.mark.parametrize(("query", "problem"), [
    ({"board": "speed"}, "board: unknown board 'speed'; boards: global, versus, fastest-lap-eu"),
    ({"board": "versus", "window": "weekly"}, "window: board 'versus' has no weekly window (its windows: alltime, "
                                              "daily)"),
    ({"board": "fastest-lap-eu", "window": "daily"}, "window: board 'fastest-lap-eu' has no daily window"),
    ({"board": "fastest-lap-eu", "window": "monthly", "period": "2026-11-26"},
     "period: '2026-11-26' is not a monthly period (e.g. '2026-11')"),
    ({"board": "fastest-lap-eu", "period": "2026-11"}, "period: the alltime window has no periods"),
])
async def test_the_ledger_of_an_unknown_board_or_a_window_it_lacks_is_400(boards_app: FastAPI,
                                                                          query: dict[str, str], problem: str) -> None:
    async with asgi_client(boards_app) as client:
        response = await client.get("/admin/users/u-1/events", params=query, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == problem or response.json()["detail"].startswith(problem), response.text
    assert response.json()["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize(("query", "status"), [
    ({"board": "versus"}, 503), ({"board": "versus", "window": "daily", "period": "2000-01-01"}, 410),
    ({"board": "fastest-lap-eu", "window": "monthly"}, 503),
    ({"board": "fastest-lap-eu", "window": "monthly", "period": "2099-01"}, 404),
])
async def test_a_ledger_of_a_board_window_it_has_passes_validation(boards_app: FastAPI, query: dict[str, str],
                                                                   status: int) -> None:
    """Past validation the request needs the worker: 503 here (no broker), or the period's own 404/410."""
    async with asgi_client(boards_app) as client:
        response = await client.get("/admin/users/u-1/events", params=query, headers=ADMIN)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["detail"] == "period '2099-01' of monthly of board 'fastest-lap-eu' has not begun"


def test_a_monthly_period_is_bounded_in_the_boards_zone() -> None:
    """The horizon check uses the board's bounds: November 2026 in Berlin begins at 23:00 UTC the day before."""
    catalog = ActionCatalog({"win_match": 25}, {})
    boards = Boards.parse_definitions({"eu": {"actions": ["win_match"], "timezone": "Europe/Berlin",
                                              "windows": ["monthly"]}}, catalog, "test")
    assert boards.bounds("eu/monthly:2026-11") == (datetime(2026, 10, 31, 23, tzinfo=UTC),
                                                   datetime(2026, 11, 30, 23, tzinfo=UTC))
    cmd = ModerationCommand(command_id="c", action="ledger", user_id="u", admin_key_id="ops", board="eu",
                            requested_at=datetime.now(UTC), window="monthly", period="2000-01")
    answer = ledger_period_out_of_range(cmd, boards, revert_days=90)
    assert answer is not None and answer.status == 410
    assert answer.body["detail"].startswith("period '2000-01' of monthly of board 'eu' ended before")
