"""The 200 path: real API + real worker (``python -m stream_app``) + real broker.

The API waits for the worker's ``score-applied`` record of its event and answers the user's new total;
repeats of one Idempotency-Key (per API key) count once and answer the first total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest

from tests.fixtures.api import KEY1, KEY2
from tests.fixtures.kafka import Topics
from tests.fixtures.services import ServiceProcess

pytestmark = pytest.mark.integration

StartApi = Callable[..., tuple[ServiceProcess, str]]
MakeTopics = Callable[..., Awaitable[Topics]]
POINTS = 50  # complete_level_5 in the shipped catalog
WAIT = "60000"  # the wait bound: generous, so a slow machine answers 200, not 202


async def stack(make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., ServiceProcess]) -> str:
    topics = await make_topics()
    start_worker(topics)
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT)
    return url


async def post(client: httpx.AsyncClient, user: str, *, key: str = KEY1, idem: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", "x-api-key": key, **({"idempotency-key": idem} if idem else {})}
    return await client.post("/scores", content=orjson.dumps({"user_id": user, "action_id": "complete_level_5"}),
                             headers=headers)


def new_score(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and set(body) == {"status", "new_score"}
    return int(body["new_score"])


async def test_post_answers_200_with_the_new_total(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., ServiceProcess]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "solo")) == POINTS
        assert new_score(await post(client, "solo")) == 2 * POINTS
        assert new_score(await post(client, "other")) == POINTS


async def test_200_concurrent_posts_for_one_user_end_at_exactly_200_times_the_points(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., ServiceProcess]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        responses = await asyncio.gather(*(post(client, "crowd") for _ in range(200)))
        scores = [new_score(r) for r in responses]
        assert len(set(scores)) == 200
        assert max(scores) == 200 * POINTS
        assert sorted(scores) == [POINTS * n for n in range(1, 201)]
        assert new_score(await post(client, "crowd")) == 201 * POINTS


async def test_repeats_of_one_idempotency_key_count_once_and_answer_the_first_total(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., ServiceProcess]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "rita")) == POINTS
        first = new_score(await post(client, "rita", idem="order-1"))
        assert first == 2 * POINTS
        for _ in range(3):
            assert new_score(await post(client, "rita", idem="order-1")) == first
        # concurrent repeats of a fresh key: one application, every answer the same total
        burst = await asyncio.gather(*(post(client, "rita", idem="order-2") for _ in range(20)))
        assert {new_score(r) for r in burst} == {3 * POINTS}
        assert new_score(await post(client, "rita", idem="order-1")) == first
        assert new_score(await post(client, "rita")) == 4 * POINTS


async def test_one_idempotency_key_from_two_api_keys_counts_twice(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., ServiceProcess]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "sam", key=KEY1, idem="shared-7")) == POINTS
        assert new_score(await post(client, "sam", key=KEY2, idem="shared-7")) == 2 * POINTS
        assert new_score(await post(client, "sam", key=KEY1, idem="shared-7")) == POINTS
        assert new_score(await post(client, "sam", key=KEY2, idem="shared-7")) == 2 * POINTS
        assert new_score(await post(client, "sam")) == 3 * POINTS
