"""The standings endpoints in-process (httpx.ASGITransport): bodies, agreement between endpoints, 400s and 404s.

The rank index is filled with the same ``user-standings`` record bytes the worker writes; exactness against the
real pipeline is tested on the broker (``tests/integration/test_standings.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.periods import board_id, period_for
from tests.fixtures.sse import AsgiSse, board_record, standing_record

pytestmark = pytest.mark.asgi

SseFactory = Callable[..., contextlib.AbstractAsyncContextManager[AsgiSse]]
NOW = datetime.now(UTC)
DAILY = board_id("daily", period_for("daily", NOW))
# 50 users: scores 0..49 with ties in pairs (user-00 and user-01 both 0, ...); the earlier "since" ranks first
USERS = {f"user-{i:02d}": (i // 2, 1000 - i) for i in range(50)}


def expected_order() -> list[str]:
    return [u for u, _ in sorted(USERS.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))]


async def filled(sse: AsgiSse) -> None:
    sse.standings(*(standing_record(u, {"alltime": v, DAILY: (v[0] * 2, v[1])}, u.title())
                    for u, v in USERS.items()))


async def get(sse: AsgiSse, path: str, **params: Any) -> Any:
    response = await sse.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_users_standing_is_exact_with_meta(sse_asgi: SseFactory) -> None:
    order = expected_order()
    async with sse_asgi() as sse:
        await filled(sse)
        for rank, user in enumerate(order, 1):
            body = await get(sse, f"/leaderboard/users/{user}")
            assert (body["rank"], body["score"], body["username"]) == (rank, USERS[user][0], user.title())
            assert body["top_percent"] == round(100 * rank / 50, 2)
        daily = await get(sse, f"/leaderboard/users/{order[0]}", window="daily")
    assert {k: body[k] for k in ("window", "period", "board", "total_players")} == \
        {"window": "alltime", "period": None, "board": "global", "total_players": 50}
    assert isinstance(body["version"], int) and body["timestamp"].endswith("Z")
    assert (daily["window"], daily["period"], daily["score"]) == ("daily", DAILY.split(":")[1], USERS[order[0]][0] * 2)


async def test_around_friends_and_pages_agree_with_each_other(sse_asgi: SseFactory) -> None:
    order = expected_order()
    async with sse_asgi() as sse:
        await filled(sse)
        around = await get(sse, f"/leaderboard/around/{order[20]}", radius=3)
        page = await get(sse, "/leaderboard", offset=17, limit=7)
        friends = await get(sse, "/leaderboard/users", ids=f"{order[40]},nobody,{order[3]},{order[20]}")
        top_end = await get(sse, f"/leaderboard/around/{order[0]}", radius=2)
        bottom_end = await get(sse, f"/leaderboard/around/{order[-1]}", radius=2)
        beyond = await get(sse, "/leaderboard", offset=48, limit=100)
    assert around["data"] == page["data"]
    assert [r["rank"] for r in around["data"]] == list(range(18, 25))
    assert [r["user_id"] for r in around["data"]] == order[17:24]
    assert around["version"] == page["version"] == friends["version"]
    assert [(r["rank"], r["user_id"]) for r in friends["data"]] == [(4, order[3]), (21, order[20]), (41, order[40])]
    assert friends["missing"] == ["nobody"]
    assert [r["rank"] for r in top_end["data"]] == [1, 2, 3]
    assert [r["rank"] for r in bottom_end["data"]] == [48, 49, 50]
    assert [r["rank"] for r in beyond["data"]] == [49, 50]


async def test_the_top_body_carries_board_and_total_players_and_equals_the_index_top(sse_asgi: SseFactory) -> None:
    order = expected_order()
    async with sse_asgi(top_k=10) as sse:
        await filled(sse)
        sse.feed(board_record("alltime", 7, [(u, USERS[u][0]) for u in order[:10]],
                              usernames={u: u.title() for u in order}))
        top = await get(sse, "/leaderboard", limit=10)
        page = await get(sse, "/leaderboard", offset=0, limit=10)
    assert (top["board"], top["total_players"], top["version"]) == ("global", 50, 7)
    assert top["data"] == page["data"]
    async with sse_asgi(top_k=10) as sse:  # a player joining below the top counts at once, the board unchanged
        await filled(sse)
        sse.feed(board_record("alltime", 7, [(u, USERS[u][0]) for u in order[:10]]))
        sse.standings(standing_record("late", {"alltime": (-5, 0)}))
        assert (await get(sse, "/leaderboard", limit=10))["total_players"] == 51


async def test_every_user_id_the_write_api_accepts_can_be_asked_for(sse_asgi: SseFactory) -> None:
    user = "dev\u200d1 \U0001f469\u200d\U0001f4bb"  # format characters (ZWJ), as the write API accepts them
    async with sse_asgi() as sse:
        sse.standings(standing_record(user, {"alltime": (5, 0)}))
        body = await get(sse, f"/leaderboard/users/{user}")
        friends = await get(sse, "/leaderboard/users", ids=user)
    assert (body["user_id"], body["rank"]) == (user, 1) and friends["data"][0]["user_id"] == user


async def test_a_lookup_answer_has_a_length_and_is_not_cached(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        await filled(sse)
        response = await sse.client.get("/leaderboard/users/user-01")
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["cache-control"] == "no-store" and response.headers["content-type"] == "application/json"


async def test_the_lookups_are_documented_in_the_openapi_with_their_parameters(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        spec = (await sse.client.get("/openapi.json")).json()
    around = spec["paths"]["/leaderboard/around/{user_id}"]["get"]
    assert [p["name"] for p in around["parameters"]] == ["user_id", "window", "period", "board", "radius"]
    assert set(around["responses"]) == {"200", "400", "404"}
    ref = around["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "data" in spec["components"]["schemas"][ref]["properties"]
    assert "ids" in [p["name"] for p in spec["paths"]["/leaderboard/users"]["get"]["parameters"]]
    assert "period" in [p["name"] for p in spec["paths"]["/leaderboard"]["get"]["parameters"]]


async def test_a_user_with_no_score_is_404_with_a_message(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        await filled(sse)
        for path in ("/leaderboard/users/nobody", "/leaderboard/around/nobody"):
            response = await sse.client.get(path)
            assert response.status_code == 404 and "nobody" in response.json()["detail"]
        for path, params in [("/leaderboard/users/user-01", {}), ("/leaderboard/around/user-01", {}),
                             ("/leaderboard/users", {"ids": "user-01"}), ("/leaderboard", {"offset": "0"}),
                             ("/leaderboard", {})]:
            gone = await sse.client.get(path, params={"period": "2020-01-01", "window": "daily", **params})
            assert gone.status_code == 404 and "2020-01-01" in gone.json()["detail"], (path, gone.text)


@pytest.mark.parametrize(("path", "params", "name"), [
    ("/leaderboard/around/user-01", {"radius": "51"}, "radius"),
    ("/leaderboard/around/user-01", {"radius": "-1"}, "radius"),
    ("/leaderboard/around/user-01", {"radius": "x"}, "radius"),
    ("/leaderboard", {"offset": "-1"}, "offset"),
    ("/leaderboard", {"offset": "5", "limit": "101"}, "limit"),
    ("/leaderboard", {"offset": "5", "limit": "0"}, "limit"),
    ("/leaderboard", {"offset": "0", "limit": "101"}, "limit"),
    ("/leaderboard/users", {"ids": ""}, "ids"),
    ("/leaderboard/users", {"ids": ",".join(f"u{i}" for i in range(101))}, "ids"),
    ("/leaderboard/users", {"ids": "a,b\x01"}, "ids"),
    ("/leaderboard/users", {"ids": "a,b\u202e"}, "ids"),
    ("/leaderboard/users", {}, "ids"),
    ("/leaderboard/users/user-01", {"window": "monthly"}, "window"),
    ("/leaderboard/users/user-01", {"board": "speedrun"}, "board"),
    ("/leaderboard/users/user-01", {"window": "daily", "period": "2026-13-01"}, "period"),
    ("/leaderboard/users/user-01", {"window": "weekly", "period": "2026-12-01"}, "period"),
    ("/leaderboard/users/user-01", {"period": "2026-12-01"}, "period"),
    ("/leaderboard/users/" + "x" * 129, {}, "user_id"),
    ("/leaderboard", {"board": "speedrun"}, "board"),
    ("/leaderboard/stream", {"user_id": "x" * 129}, "user_id"),
    ("/leaderboard/around/user-01", {"radius": " 5"}, "radius"),
    ("/leaderboard/around/user-01", {"radius": "5_0"}, "radius"),
    ("/leaderboard/around/user-01", {"radius": "\uff15"}, "radius"),
    ("/leaderboard/users", {"ids": "user-01", "window": "daily", "period": "9999-12-31"}, "period"),
    ("/leaderboard/users/user-01", {"window": "weekly", "period": "9999-W52"}, "period"),
    ("/leaderboard/users/user-01", {"window": "weekly", "period": "\u0662\u0660\u0662\u0666-W49"}, "period"),
    ("/leaderboard", {"window": "daily", "period": "9999-12-31"}, "period"),
    ("/leaderboard/stream", {"board": "speedrun"}, "board"),
    ("/leaderboard/stream", {"window": "daily", "period": "2026-11-30"}, "period"),
])
async def test_a_bad_parameter_is_400_naming_it(sse_asgi: SseFactory, path: str, params: dict[str, str],
                                                name: str) -> None:
    async with sse_asgi() as sse:
        await filled(sse)
        response = await sse.client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert name in response.json()["detail"]


@pytest.mark.parametrize(("url", "name"), [
    ("/leaderboard/users?ids=user-01&ids=user-02", "ids"),
    ("/leaderboard/around/user-01?radius=1&radius=2", "radius"),
    ("/leaderboard/users/user-01?window=bogus&window=daily", "window"),
    ("/leaderboard/users/%FF%FE", "UTF-8"),
    ("/leaderboard/users?ids=%ED%A0%80", "UTF-8"),
    ("/leaderboard/stream?user_id=%FF", "UTF-8"),
])
async def test_ambiguous_or_undecodable_parameters_are_400(sse_asgi: SseFactory, url: str, name: str) -> None:
    async with sse_asgi() as sse:
        await filled(sse)
        response = await sse.client.get(url)
    assert response.status_code == 400 and name in response.json()["detail"], response.text


async def test_an_undecodable_standings_record_is_skipped_and_counted(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        await filled(sse)
        sse.standings((b"user-01", b"{broken"), standing_record("user-99", {"alltime": (1000, 0)}),
                      standing_record("user-02", {"daily:9999-12-31": (1, 1)}))  # no period: refused, not raised
        assert (await get(sse, "/leaderboard/users/user-99"))["rank"] == 1
        assert (await get(sse, "/leaderboard/users/user-01"))["score"] == USERS["user-01"][0]
        metrics = (await sse.client.get("/metrics")).text
    assert 'scoreboard_sse_standings_records_total{outcome="invalid"} 2.0' in metrics


async def test_the_openapi_says_400_not_422_and_the_stream_is_an_event_stream(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        spec = (await sse.client.get("/openapi.json")).json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    assert all("400" in op["responses"] for op in operations if op.get("parameters"))
    assert set(spec["paths"]["/leaderboard/stream"]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}


async def test_the_docs_page_and_its_assets_are_served_by_the_api_itself(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        page = await sse.client.get("/docs")
        assets = [await sse.client.get(f"/docs-assets/{name}") for name in ("swagger-ui-bundle.js", "swagger-ui.css")]
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "http://" not in page.text and "https://" not in page.text
    assert [a.status_code for a in assets] == [200, 200] and all(len(a.content) > 10_000 for a in assets)


async def test_a_past_period_with_ranks_but_no_board_pages_but_has_no_top_body(sse_asgi: SseFactory) -> None:
    yesterday = (NOW.date() - timedelta(days=1)).isoformat()
    async with sse_asgi() as sse:
        sse.standings(standing_record("ann", {f"daily:{yesterday}": (5, 1)}))  # no leaderboard-updates record
        page = await sse.client.get("/leaderboard", params={"window": "daily", "period": yesterday, "offset": "0"})
        top = await sse.client.get("/leaderboard", params={"window": "daily", "period": yesterday})
    assert page.status_code == 200 and [r["user_id"] for r in page.json()["data"]] == ["ann"]
    assert top.status_code == 404 and yesterday in top.json()["detail"]  # not a 500
