"""The write API's HTTP layer without a broker: what happens before any Kafka use.

Built with ``create_app(settings, with_broker=False)``: auth, body limits, validation and the catalog are all
decided before the event log is touched, so these answers are the real app's answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from producer_api.app import create_app
from tests.fixtures.api import KEY1, api_settings, asgi_client

pytestmark = pytest.mark.asgi

JSON = {"content-type": "application/json"}


class ExplodingBody:
    """A request body that records whether the app ever asked for a single byte of it."""

    def __init__(self) -> None:
        self.read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read = True
        yield b'{"user_id": "u1", "action_id": "win_match"}'


class EndlessBody:
    """A chunked body of 1 KiB chunks that never ends; counts what the app pulled."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1024
            yield b"x" * 1024


async def test_401_is_answered_without_reading_the_body() -> None:
    body = ExplodingBody()
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        response = await client.post("/scores", content=body, headers=JSON)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key"}
    assert body.read is False


async def test_413_stops_reading_a_chunked_body_at_the_limit() -> None:
    body = EndlessBody()
    async with asgi_client(create_app(api_settings(max_body_bytes=4096), with_broker=False)) as client:
        response = await client.post(
            "/scores", content=body, headers={**JSON, "x-api-key": KEY1}  # type: ignore[arg-type]
        )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 4096 bytes"}
    assert body.sent <= 4096 + 2 * 1024


async def test_unknown_paths_are_counted_under_one_bounded_label() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        for n in range(3):
            assert (await client.get(f"/no/such/path/{n}", headers={"x-api-key": KEY1})).status_code == 404
        metrics = (await client.get("/metrics")).text
    assert 'scoreboard_api_requests_total{code="404",method="GET",route="unmatched"} 3.0' in metrics
    assert "/no/such/path" not in metrics


async def test_readyz_is_503_without_a_broker_and_healthz_is_200() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_several_apps_in_one_process_keep_separate_metrics() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as first:
        async with asgi_client(create_app(api_settings(), with_broker=False)) as second:
            await first.post("/scores")
            first_metrics = (await first.get("/metrics")).text
            second_metrics = (await second.get("/metrics")).text
    assert 'code="401",method="POST",route="/scores"} 1.0' in first_metrics
    assert 'code="401"' not in second_metrics


async def test_a_request_validation_error_is_400_not_422() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        response = await client.post(
            "/scores", content=b'{"user_id": "u", "action_id": "win_match"}',
            headers={**JSON, "x-api-key": KEY1, "idempotency-key": "x" * 300},
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["header", "idempotency-key"]


async def test_post_scores_is_validated_in_full_before_the_event_log_is_needed() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "u1",'
        yield b' "action_id": "win_match"}'

    headers = {**JSON, "x-api-key": KEY1}
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        unknown = await client.post("/scores", content=b'{"user_id": "u1", "action_id": "fly"}', headers=headers)
        valid = await client.post("/scores", content=chunks(), headers=headers)  # type: ignore[arg-type]
        metrics = (await client.get("/metrics")).text
    assert unknown.status_code == 422 and unknown.json() == {"detail": "unknown action_id 'fly'"}
    assert valid.status_code == 503 and valid.json() == {"detail": "event log unavailable, retry"}
    assert valid.headers["content-type"] == "application/json"
    assert 'scoreboard_api_requests_total{code="503",method="POST",route="/scores"} 1.0' in metrics
