"""Boards on the read/stream API as a real process on the real broker.

Records are produced straight to the worker's output topics (``leaderboard-updates``, ``user-standings``,
``board-status``: public interfaces), so these tests cover the read side alone: a stream of one board sees that
board's updates only, an ascending board is ranked lowest first, and ``GET /leaderboards`` shows a board's fill
from the audit log until it is live. The deployment: ``global``, ``wins`` (Pacific/Auckland) and the ascending
``fastest`` (``tests.fixtures.sse.BOARDS_FILE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from httpx_sse import ServerSentEvent, aconnect_sse

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from tests.fixtures.kafka import Topics
from tests.fixtures.sse import (
    board_record,
    boards_files,
    named_board_record,
    next_update,
    poll,
    produce_board,
    standing_record,
    status_record,
)
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
StartSse = Callable[..., tuple[Supervisor, str]]


def with_boards(tmp_path: Path) -> tuple[Boards, dict[str, str]]:
    files = boards_files(tmp_path)
    boards = Boards.load(files["boards_file"], ActionCatalog.load(files["actions_file"]))
    return boards, {"SCOREBOARD_ACTIONS_FILE": files["actions_file"], "SCOREBOARD_BOARDS_FILE": files["boards_file"]}


async def get(url: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_stream_of_one_board_sees_that_boards_updates_only(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse, tmp_path: Path,
) -> None:
    topics = await make_topics()
    topic = topics.names.leaderboard_updates
    boards, env = with_boards(tmp_path)
    wins = boards.get("wins")
    await produce_board(producer, topic, board_record("alltime", 1, [("ann", 10)]))
    await produce_board(producer, topic, named_board_record(wins, "alltime", 1, [("bob", 3)]))
    _, url = start_sse(topics, **env)
    timeout = httpx.Timeout(10, read=60)
    async with httpx.AsyncClient(timeout=timeout) as client, \
            aconnect_sse(client, "GET", f"{url}/leaderboard/stream", params={"board": "wins"}) as on_wins, \
            aconnect_sse(client, "GET", f"{url}/leaderboard/stream") as on_global, \
            aconnect_sse(client, "GET", f"{url}/leaderboard/stream",
                         params={"board": "wins", "window": "monthly"}) as on_month:
        wins_events, global_events = on_wins.aiter_sse(), on_global.aiter_sse()
        first = (await next_update(wins_events)).json()
        assert (first["board"], first["data"][0]["user_id"]) == ("wins", "bob")
        assert (await next_update(global_events)).json()["board"] == "global"
        month = (await next_update(on_month.aiter_sse())).json()
        assert (month["board"], month["window"], month["data"]) == ("wins", "monthly", [])
        for version in range(2, 5):  # interleaved: each client must get its own board's versions, in order
            await produce_board(producer, topic, board_record("alltime", 100 + version, [("ann", 10 + version)]))
            await produce_board(producer, topic, named_board_record(wins, "alltime", version, [("bob", version)]))
            got: ServerSentEvent = await next_update(wins_events)
            assert (got.id, got.json()["board"], got.json()["data"][0]["score"]) == (str(version), "wins", version)
            other = await next_update(global_events)
            assert (other.id, other.json()["board"]) == (str(100 + version), "global")
    assert (await get(url, "/leaderboard", board="wins"))["version"] == 4
    assert (await get(url, "/leaderboard"))["version"] == 104


async def test_an_ascending_board_is_ranked_lowest_first_from_user_standings(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse, tmp_path: Path,
) -> None:
    topics = await make_topics()
    boards, env = with_boards(tmp_path)
    weekly = boards.current_key("fastest", "weekly", datetime.now(UTC))
    times = {f"p{i:02d}": 60_000 + (i * 7919) % 50 * 1000 for i in range(40)}  # ties among them
    for user, time_ms in times.items():
        key, value = standing_record(user, {"fastest/alltime": (time_ms, 1000 + int(user[1:])),
                                            weekly: (time_ms, 1000 + int(user[1:])), "alltime": (5, 0)})
        await producer.send(topics.names.user_standings, value, key=key)
    await producer.flush()
    _, url = start_sse(topics, **env)
    expected = sorted(times, key=lambda u: (times[u], int(u[1:]), u))  # the earlier "since" first, then the id
    for window in ("alltime", "weekly"):
        page = await poll(lambda w=window: _page_when_full(url, w, len(times)), 30, f"fastest {window} ranked")
        assert [(r["rank"], r["user_id"], r["score"]) for r in page["data"]] == \
            [(i, u, times[u]) for i, u in enumerate(expected, 1)]
        assert page["board"] == "fastest" and page["total_players"] == len(times)
    standing = await get(url, f"/leaderboard/users/{expected[7]}", board="fastest", window="weekly")
    assert (standing["rank"], standing["board"], standing["period"]) == (8, "fastest", weekly.split(":")[1])


async def _page_when_full(url: str, window: str, players: int) -> Any:
    page = await get(url, "/leaderboard", board="fastest", window=window, offset=0, limit=100)
    return page if len(page["data"]) == players else None


async def test_leaderboards_shows_a_boards_progress_then_live(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse, tmp_path: Path,
) -> None:
    topics = await make_topics(partitions=2)
    boards, env = with_boards(tmp_path)
    wins, topic = boards.get("wins"), topics.names.board_status
    for board in boards:
        if board.name != "wins":
            for partition in (0, 1):
                key, value = status_record(board, partition, at=0, end=0, live=True)
                await producer.send_and_wait(topic, value, key=key)
    _, url = start_sse(topics, **env)

    async def wins_fill() -> dict[str, Any]:
        body = await get(url, "/leaderboards")
        found: dict[str, Any] = next(b for b in body["data"] if b["board"] == "wins")
        return found

    assert ((await wins_fill())["status"], (await wins_fill())["progress"]) == ("backfilling", 0.0)
    assert [b["status"] for b in (await get(url, "/leaderboards"))["data"]] == ["live", "backfilling", "live"]
    steps = [((0, 200, 1000), (1, 0, 1000), 0.1), ((0, 1000, 1000), (1, 600, 1000), 0.8)]
    for first, second, progress in steps:
        for partition, at, end in (first, second):
            key, value = status_record(wins, partition, at=at, end=end, live=False)
            await producer.send_and_wait(topic, value, key=key)
        await poll(lambda p=progress: _has_progress(wins_fill, p), 30, f"wins at {progress}")
    for partition in (0, 1):
        key, value = status_record(wins, partition, at=1000, end=1000, live=True)
        await producer.send_and_wait(topic, value, key=key)
    fill = await poll(lambda: _has_progress(wins_fill, 1.0), 30, "wins live")
    assert fill["status"] == "live"
    assert [p["live"] for p in fill["partitions"]] == [True, True]
    assert [w["window"] for w in fill["windows"]] == ["alltime", "daily", "monthly"]


async def _has_progress(fill: Callable[[], Awaitable[dict[str, Any]]], progress: float) -> dict[str, Any] | None:
    found = await fill()
    return found if found["progress"] == progress else None


async def test_a_restarted_read_api_has_the_same_boards_and_fill(
    make_topics: MakeTopics, producer: AIOKafkaProducer, start_sse: StartSse, tmp_path: Path,
) -> None:
    """Everything comes from the compacted topics again: the board, its ranks and its fill."""
    topics = await make_topics(partitions=1)
    boards, env = with_boards(tmp_path)
    fastest = boards.get("fastest")
    await produce_board(producer, topics.names.leaderboard_updates,
                        named_board_record(fastest, "alltime", 9, [("quick", 41_000), ("slow", 90_000)]))
    for user, time_ms in (("quick", 41_000), ("slow", 90_000)):
        key, value = standing_record(user, {"fastest/alltime": (time_ms, 1)})
        await producer.send_and_wait(topics.names.user_standings, value, key=key)
    key, value = status_record(fastest, 0, at=12, end=12, live=True)
    await producer.send_and_wait(topics.names.board_status, value, key=key)
    answers = []
    for name in ("sse-1", "sse-2"):
        proc, url = start_sse(topics, name=name, **env)
        top, board_list, standing = await asyncio.gather(
            get(url, "/leaderboard", board="fastest"), get(url, "/leaderboards"),
            get(url, "/leaderboard/users/slow", board="fastest"))
        answers.append((top["version"], [r["user_id"] for r in top["data"]],
                        [b["status"] for b in board_list["data"]], standing["rank"]))
        proc.stop()
    assert answers[0] == answers[1] == (9, ["quick", "slow"], ["backfilling", "backfilling", "live"], 2)
