"""The produce side through real HTTP: records on ``score-events``, 202 paths, idempotent event ids (scoped by
API key, user and Idempotency-Key; a generated key when none is sent), logs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from pydantic import SecretStr

from producer_api.auth import EventIds, hashed_id
from producer_api.settings import DEV_EVENT_ID_SECRET
from tests.fixtures.api import KEY1, KEY2, SharedApi
from tests.fixtures.kafka import Topics, consume_until
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}
ASYNC = {"prefer": "respond-async"}
StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]


async def test_202_with_respond_async_and_the_record_lands_on_score_events(
    bootstrap: str, shared_api: SharedApi
) -> None:
    before = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=shared_api.url, timeout=30.0) as client:
        response = await client.post(
            "/scores", content=b'{"user_id": "alice", "action_id": "find_secret", "username": "Alice"}',
            headers={**JSON, **ASYNC, "x-api-key": KEY1},
        )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and set(body) == {"status", "event_id"}
    assert response.headers["preference-applied"] == "respond-async"
    assert len(response.headers["idempotency-key"]) == 32  # generated: none was sent
    event_id = body["event_id"]

    records = await consume_until(
        bootstrap, shared_api.topics.names.score_events,
        lambda recs: any(orjson.loads(r.value).get("event_id") == event_id for r in recs),
    )
    record = next(r for r in records if orjson.loads(r.value).get("event_id") == event_id)
    assert record.key == b"alice"
    value = orjson.loads(record.value)
    assert set(value) == {"user_id", "action_id", "event_id", "username", "occurred_at"}
    assert (value["user_id"], value["action_id"], value["username"]) == ("alice", "find_secret", "Alice")
    occurred = datetime.fromisoformat(value["occurred_at"])
    assert occurred.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= occurred <= datetime.now(UTC)


async def test_the_record_omits_absent_optional_fields(bootstrap: str, shared_api: SharedApi) -> None:
    async with httpx.AsyncClient(base_url=shared_api.url, timeout=30.0) as client:
        response = await client.post("/scores", content=b'{"user_id": "bob", "action_id": "daily_login"}',
                                     headers={**JSON, **ASYNC, "x-api-key": KEY2})
    event_id = response.json()["event_id"]
    records = await consume_until(
        bootstrap, shared_api.topics.names.score_events,
        lambda recs: any(orjson.loads(r.value).get("event_id") == event_id for r in recs),
    )
    value = next(orjson.loads(r.value) for r in records if orjson.loads(r.value).get("event_id") == event_id)
    assert "username" not in value and None not in value.values()


async def test_a_value_actions_record_carries_the_value_and_a_bad_value_logs_nothing(
    bootstrap: str, shared_api: SharedApi
) -> None:
    """``lap_time_ms`` is a value action of the shipped catalog (``{min: 1, max: 3600000}``)."""
    async with httpx.AsyncClient(base_url=shared_api.url, timeout=30.0) as client:
        headers = {**JSON, **ASYNC, "x-api-key": KEY1}
        refused = [await client.post("/scores", content=orjson.dumps(body), headers=headers) for body in (
            {"user_id": "vic", "action_id": "lap_time_ms"}, {"user_id": "vic", "action_id": "lap_time_ms", "value": 0},
            {"user_id": "vic", "action_id": "win_match", "value": 5})]
        response = await client.post("/scores", content=b'{"user_id": "vic", "action_id": "lap_time_ms", '
                                                         b'"value": 61234}', headers=headers)
        last = await client.post("/scores", content=b'{"user_id": "vic", "action_id": "win_match"}', headers=headers)
    assert [r.status_code for r in refused] == [400, 400, 400]
    assert response.status_code == 202 and last.status_code == 202, response.text
    event_id, last_id = response.json()["event_id"], last.json()["event_id"]
    records = await consume_until(
        bootstrap, shared_api.topics.names.score_events,
        lambda recs: any(orjson.loads(r.value).get("event_id") == last_id for r in recs),
    )
    mine = [orjson.loads(r.value) for r in records if r.key == b"vic"]
    assert [(v["event_id"], v["action_id"], v.get("value")) for v in mine] == [
        (event_id, "lap_time_ms", 61234), (last_id, "win_match", None)]  # the 400s logged nothing
    assert set(mine[0]) == {"user_id", "action_id", "event_id", "occurred_at", "value"}


def test_the_event_id_is_scoped_by_api_key_user_and_idempotency_key(shared_api: SharedApi) -> None:
    with httpx.Client(base_url=shared_api.url, timeout=30.0) as client:
        def post(key: str, idem: str | None, user: str = "carol") -> tuple[str, str]:
            """(event id, the Idempotency-Key the answer carries)."""
            headers = {**JSON, **ASYNC, "x-api-key": key, **({"idempotency-key": idem} if idem else {})}
            body = orjson.dumps({"user_id": user, "action_id": "win_match"})
            response = client.post("/scores", content=body, headers=headers)
            assert response.status_code == 202
            return str(response.json()["event_id"]), response.headers["idempotency-key"]

        first, again = post(KEY1, "order-7"), post(KEY1, "order-7")
        other_key, other_user = post(KEY2, "order-7"), post(KEY1, "order-7", user="carl")
        plain_a, plain_b = post(KEY1, None), post(KEY1, None)
        retried = post(KEY1, plain_a[1])  # the generated key, sent back: the same event
    key_id = hashed_id(KEY1)  # a bare key's id; the dev secret keys the hash (settings: dev mode)
    event_id = EventIds(SecretStr(DEV_EVENT_ID_SECRET))
    assert first == again == (event_id(key_id, "carol", "order-7"), "order-7")
    assert other_key[0] != first[0] and other_user[0] != first[0] and other_key[0] != other_user[0]
    assert plain_a[0] != plain_b[0] and plain_a[1] != plain_b[1]
    generated = plain_a[1]
    assert len(generated) == 32
    assert plain_a[0] == event_id(key_id, "carol", generated)
    assert retried == plain_a


async def test_202_when_no_worker_answers_within_the_wait_bound(
    make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics()
    _, url = start_api(topics, SCOREBOARD_REPLY_TIMEOUT_MS="300")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        started = time.monotonic()
        response = await client.post("/scores", content=b'{"user_id": "dave", "action_id": "win_match"}',
                                     headers={**JSON, "x-api-key": KEY1, "idempotency-key": "order-d"})
        waited = time.monotonic() - started
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert response.headers["idempotency-key"] == "order-d"  # the retry after a timeout uses it
    assert "preference-applied" not in response.headers
    assert waited >= 0.3
    assert 'scoreboard_api_replies_total{outcome="timeout"} 1.0' in metrics
    assert "scoreboard_api_pending_replies 0.0" in metrics  # the waiter was removed


async def test_the_api_key_never_appears_in_the_logs(make_topics: MakeTopics, start_api: StartApi) -> None:
    topics = await make_topics()
    good, other, wrong = "s3cr3t-Key-AAAA", "s3cr3t-Key-BBBB", "n0t-the-Key-ZZZZ"
    process, url = start_api(topics, api_keys=f"{good},{other}", SCOREBOARD_REPLY_TIMEOUT_MS="200")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        for key in (good, other, wrong):
            await client.post("/scores", content=b'{"user_id": "eve", "action_id": "win_match"}',
                              headers={**JSON, "x-api-key": key, "idempotency-key": "idem-1"})
            await client.post("/scores", content=b"{bad", headers={**JSON, "x-api-key": key})
            await client.get("/actions", headers={"x-api-key": key})
        await client.get(f"/nope?key={good}")  # even a key put in a query string is not logged
    process.stop()
    log = process.output()
    assert "POST /scores 202" in log and "POST /scores 401" in log and "POST /scores 400" in log
    for secret in (good, other, wrong):
        assert secret not in log
