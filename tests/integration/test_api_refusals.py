"""Refusals reach the client: a dead letter on ``score-events-dlq`` for an event a request is waiting for turns
that request's answer into ``422 {"detail": <x-dlq-reason>, "event_id": ...}`` instead of a 202 after the wait.

Real API process, real broker, no worker: the test itself plays the worker's part and produces the dead letter
exactly as the worker does (the original key and value, ``x-dlq-reason``, ``x-source-*`` and ``x-event-id``),
once the request's record is on ``score-events``. The wait bound is a minute, so a 422 can only come from the
dead letter. The worker's own refusals (an Idempotency-Key reused for another action, a total out of range)
are the worker's tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from tests.fixtures.api import KEY1
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]
WAIT_MS = "60000"
REUSED = "idempotency key reused for user 'u-ref' with another action_id (first: 'win_match')"


async def post(client: httpx.AsyncClient, user: str, idem: str, action: str = "complete_level_5") -> httpx.Response:
    headers = {"content-type": "application/json", "x-api-key": KEY1, "idempotency-key": idem}
    return await client.post("/scores", content=orjson.dumps({"user_id": user, "action_id": action}),
                             headers=headers)


async def logged(bootstrap: str, topics: Topics, user: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """The first ``count`` records of ``user`` on score-events, waiting (bounded) until they are all there."""
    def mine(records: list[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in records if r.key == user.encode()]

    records = await consume_until(bootstrap, topics.names.score_events, lambda recs: len(mine(recs)) >= count)
    return mine(records)[:count]


async def dead_letter(producer: AIOKafkaProducer, topics: Topics, source: ConsumerRecord[bytes, bytes],
                      reason: str, *, with_event_id_header: bool = True) -> None:
    """What the worker sends for a record it refuses."""
    headers = [("x-dlq-reason", reason.encode()), ("x-source-topic", source.topic.encode()),
               ("x-source-partition", str(source.partition).encode()),
               ("x-source-offset", str(source.offset).encode())]
    if with_event_id_header:
        headers.append(("x-event-id", orjson.loads(source.value)["event_id"].encode()))
    await producer.send_and_wait(topics.names.dlq, value=source.value, key=source.key, headers=headers)


async def test_a_dead_letter_answers_every_request_waiting_for_its_event_with_422(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi, producer: AIOKafkaProducer
) -> None:
    topics = await make_topics()
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT_MS)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        # two concurrent requests with one Idempotency-Key: one event id, both waiting
        waiting = [asyncio.create_task(post(client, "u-ref", "order-1")) for _ in range(2)]
        sources = await logged(bootstrap, topics, "u-ref", 2)  # registered before producing: both wait now
        event_id = orjson.loads(sources[0].value)["event_id"]
        assert orjson.loads(sources[1].value)["event_id"] == event_id
        await dead_letter(producer, topics, sources[1], REUSED)
        answers = await asyncio.gather(*waiting)
        metrics = (await client.get("/metrics")).text
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json() == {"detail": REUSED, "event_id": event_id}
        assert answer.headers["idempotency-key"] == "order-1"
    assert 'scoreboard_api_replies_total{outcome="refused"} 2.0' in metrics
    assert "scoreboard_api_pending_replies 0.0" in metrics


async def test_without_an_event_id_header_the_event_id_of_the_value_is_used(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi, producer: AIOKafkaProducer
) -> None:
    topics = await make_topics()
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS=WAIT_MS)
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        waiting = asyncio.create_task(post(client, "u-big", "order-2"))
        (source,) = await logged(bootstrap, topics, "u-big", 1)
        await dead_letter(producer, topics, source, "total would leave the signed 64-bit range",
                          with_event_id_header=False)
        answer = await waiting
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"detail": "total would leave the signed 64-bit range",
                             "event_id": orjson.loads(source.value)["event_id"]}
    assert answer.headers["idempotency-key"] == "order-2"


async def test_a_dead_letter_for_another_event_or_another_action_leaves_the_request_waiting(
    bootstrap: str, make_topics: MakeTopics, start_api: StartApi, producer: AIOKafkaProducer
) -> None:
    """Only its own event's dead letter answers a request: here none comes, so it ends in 202 at the bound."""
    topics = await make_topics()
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS="3000")
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        waiting = asyncio.create_task(post(client, "u-wait", "order-3"))
        (source,) = await logged(bootstrap, topics, "u-wait", 1)
        value = orjson.loads(source.value)
        other_event = {**value, "event_id": "idem-someone-else"}
        other_action = {**value, "action_id": "daily_login"}  # the same key concurrently for another action
        for refused in (other_event, other_action):
            await producer.send_and_wait(topics.names.dlq, value=orjson.dumps(refused), key=source.key,
                                         headers=[("x-dlq-reason", b"not yours"),
                                                  ("x-event-id", refused["event_id"].encode())])
        answer = await waiting
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted", "event_id": value["event_id"]}
    assert answer.headers["idempotency-key"] == "order-3"
