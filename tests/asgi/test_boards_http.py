"""Boards on the read API in-process (httpx.ASGITransport): ``board=`` on every endpoint, ascending boards,
periods in a board's zone, and ``GET /leaderboards``.

The deployment here has three boards (``tests.fixtures.sse.BOARDS_FILE``): ``global`` (added by default), ``wins``
(alltime, daily, monthly in Pacific/Auckland) and ``fastest`` (a ``min`` board, so ascending: alltime and weekly
in America/Los_Angeles). Feeds are filled with the record bytes the worker writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from tests.fixtures.sse import (
    AsgiSse,
    board_record,
    boards_files,
    named_board_record,
    standing_record,
    status_record,
)

pytestmark = pytest.mark.asgi

SseFactory = Callable[..., contextlib.AbstractAsyncContextManager[AsgiSse]]
NOW = datetime.now(UTC)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return boards_files(tmp_path)


@pytest.fixture
def boards(files: dict[str, str]) -> Boards:
    return Boards.load(files["boards_file"], ActionCatalog.load(files["actions_file"]))


async def get(sse: AsgiSse, path: str, status: int = 200, **params: Any) -> Any:
    path, _, ids = path.partition("?ids=")
    response = await sse.client.get(path, params={**params, **({"ids": ids} if ids else {})})
    assert response.status_code == status, response.text
    return response.json()


READS = ["/leaderboard", "/leaderboard/stream", "/leaderboard/users/u1", "/leaderboard/around/u1",
         "/leaderboard/users?ids=u1", "/leaderboard/periods"]


@pytest.mark.parametrize("path", READS)
async def test_an_unknown_board_is_400_naming_the_boards(sse_asgi: SseFactory, files: dict[str, str],
                                                        path: str) -> None:
    async with sse_asgi(**files) as sse:
        body = await get(sse, path, 400, board="nope")
    assert body["detail"].startswith("board: unknown board 'nope'") and "wins" in body["detail"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(("board", "window"), [("wins", "weekly"), ("fastest", "daily"), ("global", "monthly")])
async def test_a_window_the_board_does_not_have_is_400(sse_asgi: SseFactory, files: dict[str, str], path: str,
                                                      board: str, window: str) -> None:
    async with sse_asgi(**files) as sse:
        body = await get(sse, path, 400, board=board, window=window)
    assert body["detail"].startswith("window:") and board in body["detail"]


async def test_a_board_is_served_apart_from_the_others(sse_asgi: SseFactory, files: dict[str, str],
                                                       boards: Boards) -> None:
    wins = boards.get("wins")
    async with sse_asgi(**files) as sse:
        sse.feed(board_record("alltime", 5, [("ann", 100)]))
        sse.feed(named_board_record(wins, "alltime", 7, [("bob", 3), ("ann", 1)]))
        sse.feed(named_board_record(wins, "monthly", 8, [("bob", 2)], now=NOW))
        default = await get(sse, "/leaderboard")
        alltime = await get(sse, "/leaderboard", board="wins")
        monthly = await get(sse, "/leaderboard", board="wins", window="monthly")
    assert (default["board"], default["version"], default["data"][0]["user_id"]) == ("global", 5, "ann")
    assert (alltime["board"], alltime["version"]) == ("wins", 7)
    assert [r["user_id"] for r in alltime["data"]] == ["bob", "ann"]
    local = NOW.astimezone(ZoneInfo("Pacific/Auckland"))
    assert (monthly["window"], monthly["period"], monthly["version"]) == ("monthly", f"{local:%Y-%m}", 8)
    start = datetime.fromisoformat(monthly["period_start"]).astimezone(ZoneInfo("Pacific/Auckland"))
    assert (start.day, start.hour, start.minute) == (1, 0, 0)  # local midnight of the 1st, not UTC's


async def test_a_board_without_records_shows_its_current_period_empty(sse_asgi: SseFactory, files: dict[str, str],
                                                                     boards: Boards) -> None:
    async with sse_asgi(**files) as sse:
        weekly = await get(sse, "/leaderboard", board="fastest", window="weekly")
        periods = await get(sse, "/leaderboard/periods", board="fastest", window="weekly")
    key = boards.current_key("fastest", "weekly", NOW)
    start, end = boards.bounds(key) or (None, None)
    assert (weekly["data"], weekly["board"], weekly["period"]) == ([], "fastest", key.split(":")[1])
    assert datetime.fromisoformat(weekly["period_start"]) == start
    assert datetime.fromisoformat(weekly["period_end"]) == end
    assert periods["data"] == [{"period": key.split(":")[1], "start": weekly["period_start"],
                                "end": weekly["period_end"], "final": False}]


async def test_a_record_naming_another_board_than_its_key_is_skipped(sse_asgi: SseFactory, files: dict[str, str],
                                                                    boards: Boards) -> None:
    async with sse_asgi(**files) as sse:
        key, value = named_board_record(boards.get("wins"), "alltime", 9, [("eve", 1)])
        assert sse.model.feed.handle(b"fastest/alltime", value).outcome == "invalid"
        assert sse.model.feed.handle(b"nope/alltime", value).outcome == "invalid"
        assert sse.model.feed.handle(key, value.replace(b'"board":"wins"', b'"board":"global"')).outcome == \
            "invalid"
        body = await get(sse, "/leaderboard", board="fastest")
    assert body["data"] == []


# fastest is a min board: the lowest time ranks first, a tie goes to who reached it first, then the user id
TIMES = {"u1": (5000, 30), "u2": (4200, 40), "u3": (5000, 10), "u4": (9000, 5), "u5": (4200, 40)}
ASCENDING = ["u2", "u5", "u3", "u1", "u4"]


async def test_an_ascending_board_ranks_the_lowest_score_first(sse_asgi: SseFactory, files: dict[str, str]) -> None:
    async with sse_asgi(**files) as sse:
        sse.standings(*(standing_record(u, {"fastest/alltime": v, "alltime": (v[0], v[1])})
                        for u, v in TIMES.items()))
        page = await get(sse, "/leaderboard", board="fastest", offset=0, limit=10)
        ranks = {u: (await get(sse, f"/leaderboard/users/{u}", board="fastest"))["rank"] for u in TIMES}
        around = await get(sse, "/leaderboard/around/u3", board="fastest", radius=1)
        friends = await get(sse, "/leaderboard/users", board="fastest", ids="u4,u2,nobody")
        descending = await get(sse, "/leaderboard", offset=0, limit=10)
    assert [(r["rank"], r["user_id"], r["score"]) for r in page["data"]] == \
        [(i, u, TIMES[u][0]) for i, u in enumerate(ASCENDING, 1)]
    assert ranks == {u: i for i, u in enumerate(ASCENDING, 1)}
    assert [r["user_id"] for r in around["data"]] == ["u5", "u3", "u1"]
    assert [(r["rank"], r["user_id"]) for r in friends["data"]] == [(1, "u2"), (5, "u4")]
    assert friends["missing"] == ["nobody"] and page["board"] == friends["board"] == "fastest"
    assert [r["user_id"] for r in descending["data"]][:2] == ["u4", "u3"]  # global: highest first, u3 before u1


async def test_standings_keys_of_a_board_not_defined_here_are_skipped_not_the_record(
        sse_asgi: SseFactory, files: dict[str, str]) -> None:
    async with sse_asgi(**files) as sse:
        sse.standings(standing_record("u1", {"alltime": (5, 1), "removed-board/alltime": (9, 1)}))
        body = await get(sse, "/leaderboard/users/u1")
    assert (body["rank"], body["score"]) == (1, 5)


async def test_leaderboards_lists_every_board_with_its_periods_and_fill(sse_asgi: SseFactory, files: dict[str, str],
                                                                       boards: Boards) -> None:
    wins = boards.get("wins")
    async with sse_asgi(**files, partitions=2) as sse:
        empty = await get(sse, "/leaderboards")
        sse.status(status_record(wins, 0, at=30, end=100, live=False),
                   status_record(wins, 1, at=0, end=0, live=False, fingerprint="an-old-definition"))
        half = await get(sse, "/leaderboards")
        sse.status(status_record(wins, 1, at=50, end=100, live=False))
        more = await get(sse, "/leaderboards")
        sse.status(status_record(wins, 0, at=100, end=100, live=False), status_record(wins, 1, at=100, end=100,
                                                                                       live=False))
        almost = await get(sse, "/leaderboards")
        sse.status(status_record(wins, 0, at=140, end=100, live=True), status_record(wins, 1, at=101, end=100,
                                                                                      live=True))
        live = await get(sse, "/leaderboards")
    assert [b["board"] for b in empty["data"]] == ["global", "wins", "fastest"]
    by_name = {b["board"]: b for b in empty["data"]}
    assert by_name["fastest"]["definition"] == boards.get("fastest").describe()
    assert by_name["fastest"]["definition"]["order"] == "asc"
    assert [w["window"] for w in by_name["wins"]["windows"]] == ["alltime", "daily", "monthly"]
    monthly = by_name["wins"]["windows"][2]
    key = boards.current_key("wins", "monthly", NOW)
    assert monthly["period"] == key.split(":")[1]
    assert datetime.fromisoformat(monthly["period_start"]) == (boards.bounds(key) or (None,))[0]
    assert by_name["wins"]["windows"][0] == {"window": "alltime", "period": None, "period_start": None,
                                             "period_end": None}
    assert all((b["status"], b["progress"]) == ("backfilling", 0.0) for b in empty["data"])
    assert by_name["wins"]["partitions"] == [{"partition": p, "live": False, "at": None, "end": None}
                                             for p in (0, 1)]

    def wins_of(body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = next(b for b in body["data"] if b["board"] == "wins")
        return found

    # each partition's share averaged: 30 % of one, nothing of the other (its record is of the old definition)
    assert (wins_of(half)["status"], wins_of(half)["progress"]) == ("backfilling", 0.15)
    assert wins_of(half)["partitions"][1]["at"] is None
    assert wins_of(more)["progress"] == 0.4
    assert (wins_of(almost)["status"], wins_of(almost)["progress"]) == ("backfilling", 0.9999)
    assert (wins_of(live)["status"], wins_of(live)["progress"]) == ("live", 1.0)
    assert wins_of(live)["partitions"] == [{"partition": 0, "live": True, "at": 140, "end": 100},
                                           {"partition": 1, "live": True, "at": 101, "end": 100}]
    assert next(b for b in live["data"] if b["board"] == "fastest")["status"] == "backfilling"


async def test_a_bad_board_status_record_is_skipped(sse_asgi: SseFactory, files: dict[str, str],
                                                    boards: Boards) -> None:
    wins = boards.get("wins")
    async with sse_asgi(**files, partitions=1) as sse:
        _, value = status_record(wins, 0, at=1, end=1, live=True)
        sse.status((b"wins", value), (b"fastest|0", value), (b"wins|0", b"{"), (b"wins|x", value))
        body = await get(sse, "/leaderboards")
        sse.status((b"wins|0", value))
        after = await get(sse, "/leaderboards")
        sse.status((b"wins|0", None))
        tombstoned = await get(sse, "/leaderboards")
    assert [b["status"] for b in body["data"]] == ["backfilling"] * 3
    assert [b["status"] for b in after["data"]] == ["backfilling", "live", "backfilling"]
    assert [b["status"] for b in tombstoned["data"]] == ["backfilling"] * 3


async def test_leaderboards_is_documented_beside_the_read_routes(sse_asgi: SseFactory) -> None:
    async with sse_asgi() as sse:
        spec = (await sse.client.get("/openapi.json")).json()
        body = await get(sse, "/leaderboards")
    operation = spec["paths"]["/leaderboards"]["get"]
    assert operation["tags"] == spec["paths"]["/leaderboard"]["get"]["tags"] == ["leaderboard"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][ref]["properties"]) == {"data", "timestamp"}
    assert [b["board"] for b in body["data"]] == ["global"]  # no boards file: the one global board
    assert body["data"][0]["definition"]["windows"] == ["alltime", "daily", "weekly"]


async def test_the_stream_fast_path_serves_a_board_and_leaves_the_rest_to_the_route(
        sse_asgi: SseFactory, files: dict[str, str]) -> None:
    from sse_server.eventstream import StreamFastPath

    async with sse_asgi(**files) as sse:
        def stream(query: str) -> Any:
            return StreamFastPath.stream_for({"type": "http", "path": "/leaderboard/stream", "method": "GET",
                                           "query_string": query.encode(), "headers": [],
                                           "state": {"model": sse.model}})

        wins = stream("board=wins&window=monthly&user_id=u1")
        fastest = stream("board=fastest")
        assert (wins.board, wins.window, wins.user_id) == ("wins", "monthly", "u1")
        assert (fastest.board, fastest.window) == ("fastest", "alltime")
        for refused in ("board=nope", "board=wins&window=weekly", "board=wins&board=global", "window=monthly"):
            assert stream(refused) is None, refused
