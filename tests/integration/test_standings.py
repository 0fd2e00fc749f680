"""Standings on the real broker: worker -> ``user-standings`` -> the read API's rank index -> every endpoint.

150 users get distinct totals through increases and decreases (so a brute-force sort of the totals posted is the
exact ranking); every rank far beyond the top-K is checked against it, the endpoints against each other and
against the top board at rest, a restarted read API against the first, and a personal stream follows a player
from the bottom to rank 1.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from httpx_sse import aconnect_sse

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import poll
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

CATALOG = "p1: 1\np10: 10\np100: 100\nm1: -1\n"
USERS = 150
TOP_K = 5


def plan(user: int) -> list[str]:
    """Actions taking user ``user`` to the total ``3 * user + 7`` (distinct per user), going over and back down."""
    target = 3 * user + 7
    tens, rest = divmod(target, 10)
    return ["p10"] * (tens + 1) + ["m1"] * (10 - rest)


def totals() -> dict[str, int]:
    return {f"u{i:03d}": 3 * i + 7 for i in range(USERS)}


def brute_force(scores: dict[str, int]) -> list[tuple[int, str, int]]:
    order = sorted(scores.items(), key=lambda item: -item[1])
    return [(rank, user, score) for rank, (user, score) in enumerate(order, 1)]


async def produce(producer: AIOKafkaProducer, topic: str, events: list[tuple[str, str]], tag: str) -> None:
    futures = [await producer.send(topic, orjson.dumps({"user_id": u, "action_id": a, "event_id": f"{tag}{n}",
                                                        "username": u.upper()}), key=u.encode())
               for n, (u, a) in enumerate(events)]
    await asyncio.gather(*futures)


class Read:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(f"{self.url}{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def whole_board(self, window: str = "alltime") -> list[tuple[int, str, int]]:
        rows: list[tuple[int, str, int]] = []
        for offset in range(0, USERS + 100, 100):
            page = await self.get("/leaderboard", window=window, offset=offset, limit=100)
            rows += [(r["rank"], r["user_id"], r["score"]) for r in page["data"]]
        return rows


@pytest.fixture
async def pipeline(
    make_topics: Callable[..., Awaitable[Topics]], tmp_path: Path, start_worker: Callable[..., Supervisor],
    start_sse: Callable[..., tuple[Supervisor, str]],
) -> AsyncIterator[tuple[Topics, Callable[..., Any]]]:
    topics = await make_topics(partitions=3)
    catalog = tmp_path / "actions.yaml"
    catalog.write_text(CATALOG)
    start_worker(topics, SCOREBOARD_ACTIONS_FILE=str(catalog), SCOREBOARD_TOP_K=str(TOP_K))

    def sse(name: str = "sse") -> tuple[Supervisor, str]:
        return start_sse(topics, name=name, SCOREBOARD_TOP_K=str(TOP_K))

    yield topics, sse


async def test_ranks_far_beyond_the_top_k_are_exact_and_every_endpoint_agrees(
    pipeline: tuple[Topics, Callable[..., tuple[Supervisor, str]]], producer: AIOKafkaProducer,
) -> None:
    topics, start_sse = pipeline
    proc, url = start_sse()
    events = [(f"u{i:03d}", action) for i in range(USERS) for action in plan(i)]
    random.Random(7).shuffle(events)  # ups and downs interleaved across users; the totals do not depend on it
    await produce(producer, topics.names.score_events, events, "s")
    want = brute_force(totals())
    async with httpx.AsyncClient(timeout=30) as client:
        read = Read(client, url)
        await poll(lambda: _equals(read.whole_board(), want), 90, "the whole board from the rank index is exact")
        for window in ("daily", "weekly"):  # every event is of today
            await poll(lambda w=window: _equals(read.whole_board(w), want), 30, f"the {window} board is exact")
        for rank, user, score in want:
            body = await read.get(f"/leaderboard/users/{user}")
            assert (body["rank"], body["score"], body["username"], body["total_players"]) == \
                (rank, score, user.upper(), USERS)
            assert body["top_percent"] == round(100 * rank / USERS, 2)
        # at rest the index's top-K equals the worker's board row for row
        async def top_matches() -> bool:
            top = await read.get("/leaderboard", limit=TOP_K)
            return [(r["rank"], r["user_id"], r["score"]) for r in top["data"]] == want[:TOP_K]
        await poll(top_matches, 30, "leaderboard-updates shows the same top-K")
        top = await read.get("/leaderboard", limit=TOP_K)
        first_page = await read.get("/leaderboard", offset=0, limit=TOP_K)
        assert top["data"] == first_page["data"] and top["total_players"] == USERS and top["board"] == "global"
        around = await read.get(f"/leaderboard/around/{want[99][1]}", radius=4)
        page = await read.get("/leaderboard", offset=95, limit=9)
        friends = await read.get("/leaderboard/users", ids=",".join(r["user_id"] for r in reversed(page["data"])))
        assert around["version"] == page["version"] == friends["version"]  # the pipeline is at rest
        assert around["data"] == page["data"] == friends["data"] and friends["missing"] == []
        assert [r["rank"] for r in around["data"]] == list(range(96, 105))

        proc.stop()  # a restarted read API rebuilds the same ranks from user-standings alone
        _, url = start_sse("sse-again")
        again = Read(client, url)
        assert await again.whole_board() == want
        assert (await again.get(f"/leaderboard/users/{want[120][1]}"))["rank"] == 121


async def test_a_personal_stream_follows_a_player_from_the_bottom_to_rank_1(
    pipeline: tuple[Topics, Callable[..., tuple[Supervisor, str]]], producer: AIOKafkaProducer,
) -> None:
    topics, start_sse = pipeline
    _, url = start_sse()
    users = 40
    await produce(producer, topics.names.score_events,
                  [(f"u{i:03d}", "p10") for i in range(1, users) for _ in range(i)], "seed")
    await produce(producer, topics.names.score_events, [("u000", "p1")], "first")
    async with httpx.AsyncClient(timeout=30) as client:
        async def seeded() -> bool:
            response = await client.get(f"{url}/leaderboard/users/u000")
            return response.status_code == 200 and response.json()["total_players"] == users

        await poll(seeded, 60, "every seeded player is in the index")
        ranks: list[int | None] = []
        async with aconnect_sse(client, "GET", f"{url}/leaderboard/stream", params={"user_id": "u000"}) as source:
            events = source.aiter_sse()

            async def next_standing() -> dict[str, Any]:
                async for event in events:
                    if event.event == "standing":
                        return dict(event.json())
                raise AssertionError("the stream ended")

            first = await asyncio.wait_for(next_standing(), 30)
            assert (first["user_id"], first["rank"], first["score"]) == ("u000", users, 1)
            ranks.append(first["rank"])
            started = datetime.now(UTC)
            await produce(producer, topics.names.score_events, [("u000", "p100")] * 4, "climb")
            while ranks[-1] != 1:
                standing = await asyncio.wait_for(next_standing(), 30)
                ranks.append(standing["rank"])
            assert standing["score"] == 401 and standing["top_percent"] == round(100 / users, 2)
        assert ranks == sorted(ranks, key=lambda r: -(r or 0)) and (datetime.now(UTC) - started).total_seconds() < 30


async def _equals(board: Awaitable[list[tuple[int, str, int]]], want: list[tuple[int, str, int]]) -> bool:
    return await board == want
