"""The 200 path: real API + real worker (``python -m stream_app``) + real broker.

The API waits for the worker's ``score-applied`` record of its event and answers the user's new total and the
event id, with the request's Idempotency-Key (the client's, or one generated for it) in a header; repeats of one
Idempotency-Key (per API key and user) count once and answer the first total, and so does a retry with the
generated key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_app.scoring import SCORE_MAX
from tests.fixtures.api import KEY1, KEY2
from tests.fixtures.kafka import Topics, seed_user_state
from tools.supervisor import ROOT, Supervisor

pytestmark = pytest.mark.integration

StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]
POINTS = 50  # complete_level_5 in the shipped catalog
BOARDS_EXAMPLE = ROOT / "schemas" / "boards.example.yaml"
WAIT = "60000"  # the wait bound: generous, so a slow machine answers 200, not 202


async def stack(make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]) -> str:
    topics = await make_topics()
    start_worker(topics)
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT)
    return url


async def post(client: httpx.AsyncClient, user: str, *, key: str = KEY1, idem: str | None = None,
               action: str = "complete_level_5") -> httpx.Response:
    headers = {"content-type": "application/json", "x-api-key": key, **({"idempotency-key": idem} if idem else {})}
    return await client.post("/scores", content=orjson.dumps({"user_id": user, "action_id": action}),
                             headers=headers)


def new_score(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and set(body) == {"status", "new_score", "event_id"}
    assert body["event_id"].startswith("idem-") and response.headers["idempotency-key"]
    return int(body["new_score"])


async def test_post_answers_200_with_the_new_total(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "solo")) == POINTS
        assert new_score(await post(client, "solo")) == 2 * POINTS
        assert new_score(await post(client, "other")) == POINTS


async def test_200_concurrent_posts_for_one_user_end_at_exactly_200_times_the_points(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
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
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
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
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "sam", key=KEY1, idem="shared-7")) == POINTS
        assert new_score(await post(client, "sam", key=KEY2, idem="shared-7")) == 2 * POINTS
        assert new_score(await post(client, "sam", key=KEY1, idem="shared-7")) == POINTS
        assert new_score(await post(client, "sam", key=KEY2, idem="shared-7")) == 2 * POINTS
        assert new_score(await post(client, "sam")) == 3 * POINTS


async def test_a_retry_sent_with_a_rotated_key_of_the_same_id_is_the_same_event(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    """``acme:old`` and ``acme:new`` side by side (a rotation): a request first sent with the old key and retried
    with the new one counts once; a key of another id is another client and another event."""
    topics = await make_topics()
    start_worker(topics)
    old, new, other = "old-key-0123456789", "new-key-0123456789", "other-key-0123456789"
    _, url = start_api(topics, api_keys=f"acme:{old},acme:{new},globex:{other}", SCOREBOARD_REPLY_TIMEOUT_MS=WAIT)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        first = await post(client, "rot", key=old, idem="order-5")
        assert new_score(first) == POINTS
        retry = await post(client, "rot", key=new, idem="order-5")
        assert new_score(retry) == POINTS and retry.json()["event_id"] == first.json()["event_id"]
        assert new_score(await post(client, "rot", key=other, idem="order-5")) == 2 * POINTS


async def test_a_retry_with_the_generated_idempotency_key_is_the_same_event_and_counts_once(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        first = await post(client, "tom")
        assert new_score(first) == POINTS
        generated = first.headers["idempotency-key"]
        assert len(generated) == 32
        for _ in range(2):  # e.g. the client never saw the first answer and retries with the key it was given
            retry = await post(client, "tom", idem=generated)
            assert new_score(retry) == POINTS
            assert retry.json()["event_id"] == first.json()["event_id"]
            assert retry.headers["idempotency-key"] == generated
        assert new_score(await post(client, "tom")) == 2 * POINTS  # no key: a new event


async def test_one_idempotency_key_for_two_users_is_two_events(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        ann = await post(client, "ann", idem="batch-1")
        ben = await post(client, "ben", idem="batch-1")
        assert new_score(ann) == new_score(ben) == POINTS  # each user's first event: both counted
        assert ann.json()["event_id"] != ben.json()["event_id"]
        assert ann.headers["idempotency-key"] == ben.headers["idempotency-key"] == "batch-1"
        again = await post(client, "ann", idem="batch-1")
        assert new_score(again) == POINTS and again.json()["event_id"] == ann.json()["event_id"]
        assert new_score(await post(client, "ben")) == 2 * POINTS


async def test_an_idempotency_key_reused_for_another_action_is_refused_by_the_worker_with_422(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    """End to end: the worker dead-letters the record, the API answers the waiting request with its reason."""
    url = await stack(make_topics, start_api, start_worker)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        first = await post(client, "uma", idem="order-5")
        assert new_score(first) == POINTS
        reused = await post(client, "uma", idem="order-5", action="daily_login")
        assert reused.status_code == 422, reused.text
        assert reused.json()["detail"].startswith("idempotency key reused")
        assert reused.json()["event_id"] == first.json()["event_id"]
        assert reused.headers["idempotency-key"] == "order-5"
        assert new_score(await post(client, "uma", idem="order-5")) == POINTS  # the first answer, still
        assert new_score(await post(client, "uma")) == 2 * POINTS  # the refused event changed nothing
        metrics = (await client.get("/metrics")).text
    assert 'scoreboard_api_replies_total{outcome="refused"} 1.0' in metrics


async def test_a_value_event_answers_the_global_total_and_a_key_reused_with_another_value_is_422(
    make_topics: MakeTopics, start_api: StartApi, start_worker: Callable[..., Supervisor]
) -> None:
    """With the example boards (``lap_time_ms`` counts on ``fastest-lap-eu`` only): ``new_score`` stays the global
    all-time total, and one Idempotency-Key sent again with another value is the worker's refusal, answered 422."""
    topics = await make_topics()
    start_worker(topics, SCOREBOARD_BOARDS_FILE=str(BOARDS_EXAMPLE))
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT, SCOREBOARD_BOARDS_FILE=str(BOARDS_EXAMPLE))

    async def lap(idem: str, value: int) -> httpx.Response:
        return await client.post("/scores", content=orjson.dumps(
            {"user_id": "val", "action_id": "lap_time_ms", "value": value}),
            headers={"content-type": "application/json", "x-api-key": KEY1, "idempotency-key": idem})

    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "val")) == POINTS
        first = await lap("lap-1", 61_234)
        assert new_score(first) == POINTS  # counted on the value board, not on global
        reused = await lap("lap-1", 59_000)
        assert reused.status_code == 422, reused.text
        assert reused.json() == {"event_id": first.json()["event_id"], "detail": (
            "idempotency key reused for user 'val' with another value (61234 first, now 59000); use a new "
            "Idempotency-Key")}
        again = await lap("lap-1", 61_234)
        assert new_score(again) == POINTS and again.json()["event_id"] == first.json()["event_id"]


async def test_an_event_taking_the_total_past_64_bits_is_refused_with_422_and_the_total_kept(
    bootstrap: str, make_topics: MakeTopics, producer: AIOKafkaProducer, start_api: StartApi,
    start_worker: Callable[..., Supervisor],
) -> None:
    """The issue's input: totals that pass 2**63 - 1 killed the worker (and answered 18446744073709551614 before)."""
    topics = await make_topics()
    await seed_user_state(bootstrap, producer, topics, "whale", {"alltime": (SCORE_MAX - 60, 0)})
    start_worker(topics)
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        assert new_score(await post(client, "whale")) == SCORE_MAX - 10  # +50 fits
        refused = await post(client, "whale")  # +50 would not
        assert refused.status_code == 422, refused.text
        assert "signed 64-bit range" in refused.json()["detail"] and refused.headers["idempotency-key"]
        assert new_score(await post(client, "whale", action="report_abuse_confirmed")) == SCORE_MAX - 30
        assert new_score(await post(client, "minnow")) == POINTS  # and everyone else goes on
