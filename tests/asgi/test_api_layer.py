"""The write API's HTTP layer without a broker: what happens before any Kafka use.

Built with ``create_app(settings, with_broker=False)``: auth, body limits, validation and the catalog are all
decided before the event log is touched, so these answers are the real app's answers, and so is the
``Idempotency-Key`` header they carry (the 200/202/422-from-the-worker answers need a broker: see
tests/integration/test_api_worker.py and test_api_refusals.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from producer_api.app import create_app
from schemas.catalog import ActionCatalog, ValueRange
from tests.fixtures.api import KEY1, KEY2, api_settings, asgi_client

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


async def test_an_unknown_path_is_404_with_or_without_a_key_and_the_root_points_to_the_docs() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": KEY1}):
            missing = await client.get("/favicon.ico", headers=headers)
            assert missing.status_code == 404 and "/docs" in missing.json()["detail"]
        root = await client.get("/")
        docs = await client.get("/docs")
        protected = await client.get("/actions")
    assert root.status_code == 307 and root.headers["location"] == "/docs"
    assert docs.status_code == 200 and protected.status_code == 401  # known paths keep their rules


async def test_readyz_is_503_without_a_broker_and_healthz_is_200() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_metrics_carry_the_process_metrics_and_no_created_series() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        await client.post("/scores")
        metrics = (await client.get("/metrics")).text
    assert "process_cpu_seconds_total " in metrics and "process_resident_memory_bytes " in metrics
    assert "scoreboard_api_requests_total{" in metrics and "_created" not in metrics


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
    assert valid.status_code == 503 and valid.json()["status"] == "not_written"
    assert "nothing was written" in valid.json()["detail"]
    assert valid.headers["content-type"] == "application/json" and valid.headers["retry-after"] == "1"
    assert 'scoreboard_api_requests_total{code="503",method="POST",route="/scores"} 1.0' in metrics


# --- value actions: the `value` checked against the action's catalog entry ------------------------------------------

VALUE_CATALOG = ActionCatalog({"win_match": 25}, {"lap_time_ms": ValueRange(min=1, max=3_600_000),
                                                  "rating": ValueRange(min=-5, max=-5)})


@pytest.mark.parametrize(("body", "problem", "kind"), [
    ({"user_id": "u1", "action_id": "lap_time_ms"},
     "value: required: action 'lap_time_ms' is a value action (an integer in 1..3600000)", "missing"),
    ({"user_id": "u1", "action_id": "lap_time_ms", "value": 0},
     "value: 0 is outside the range of action 'lap_time_ms': 1..3600000", "value_out_of_range"),
    ({"user_id": "u1", "action_id": "lap_time_ms", "value": 3_600_001},
     "value: 3600001 is outside the range of action 'lap_time_ms': 1..3600000", "value_out_of_range"),
    ({"user_id": "u1", "action_id": "rating", "value": -4},
     "value: -4 is outside the range of action 'rating': -5..-5", "value_out_of_range"),
    ({"user_id": "u1", "action_id": "win_match", "value": 7},
     "value: not allowed: action 'win_match' has catalog points (only value actions, {min, max} in the catalog, "
     "take a value)", "value_not_allowed"),
    ({"user_id": "u1", "action_id": "win_match", "value": None},  # null is "no value": a points request
     None, None),
    ({"user_id": "u1", "action_id": "lap_time_ms", "value": 12.5}, "value: Input should be a valid integer",
     "int_type"),
    ({"user_id": "u1", "action_id": "lap_time_ms", "value": "12"}, "value: Input should be a valid integer",
     "int_type"),
    ({"user_id": "u1", "action_id": "lap_time_ms", "value": 2**63}, "value: Input should be less than or equal to",
     "less_than_equal"),
])
async def test_a_value_is_required_in_range_for_value_actions_and_refused_for_points_actions(
    body: dict[str, object], problem: str | None, kind: str | None,
) -> None:
    app = create_app(api_settings(), catalog=VALUE_CATALOG, with_broker=False)
    async with asgi_client(app) as client:
        response = await client.post("/scores", json=body, headers={"x-api-key": KEY1, "idempotency-key": "o-1"})
    if problem is None:
        assert response.status_code == 503, response.text  # valid: only the (absent) event log is missing
        return
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"invalid request body: {problem}"), response.text
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "value"], kind)]
    assert response.headers["idempotency-key"] == "o-1"


@pytest.mark.parametrize(("action", "value"), [("lap_time_ms", 1), ("lap_time_ms", 3_600_000), ("rating", -5)])
async def test_a_value_at_either_end_of_the_range_is_accepted(action: str, value: int) -> None:
    app = create_app(api_settings(), catalog=VALUE_CATALOG, with_broker=False)
    async with asgi_client(app) as client:
        response = await client.post("/scores", json={"user_id": "u1", "action_id": action, "value": value},
                                     headers={"x-api-key": KEY1})
    assert response.status_code == 503 and response.json()["status"] == "not_written", response.text


async def test_an_unknown_action_with_a_value_is_still_422_unknown_action() -> None:
    app = create_app(api_settings(), catalog=VALUE_CATALOG, with_broker=False)
    async with asgi_client(app) as client:
        response = await client.post("/scores", json={"user_id": "u1", "action_id": "fly", "value": 3},
                                     headers={"x-api-key": KEY1})
    assert response.status_code == 422 and response.json() == {"detail": "unknown action_id 'fly'"}


async def test_get_actions_shows_points_actions_as_points_and_value_actions_with_their_range() -> None:
    app = create_app(api_settings(), catalog=VALUE_CATALOG, with_broker=False)
    async with asgi_client(app) as client:
        response = await client.get("/actions", headers={"x-api-key": KEY1})
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.json() == {"actions": {"win_match": 25, "lap_time_ms": {"min": 1, "max": 3_600_000},
                                           "rating": {"min": -5, "max": -5}}}
    entry = schema["components"]["schemas"]["ActionsBody"]["properties"]["actions"]["additionalProperties"]
    assert entry == {"anyOf": [{"type": "integer"}, {"$ref": "#/components/schemas/ValueRangeBody"}]}


# --- the Idempotency-Key response header ------------------------------------------------------------------

GOOD = b'{"user_id": "u1", "action_id": "win_match"}'


async def test_every_answer_after_the_key_is_read_carries_the_clients_idempotency_key() -> None:
    headers = {**JSON, "x-api-key": KEY1, "idempotency-key": "order-42"}
    async with asgi_client(create_app(api_settings(max_body_bytes=4096), with_broker=False)) as client:
        answers = {
            400: await client.post("/scores", content=b"{bad", headers=headers),
            413: await client.post("/scores", content=b"x" * 5000, headers=headers),
            422: await client.post("/scores", content=b'{"user_id": "u1", "action_id": "fly"}', headers=headers),
            503: await client.post("/scores", content=GOOD, headers=headers),
        }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        assert response.headers["idempotency-key"] == "order-42", status


async def test_a_streamed_body_over_the_limit_gets_413_with_the_key() -> None:
    headers = {**JSON, "x-api-key": KEY1, "idempotency-key": "order-43"}
    async with asgi_client(create_app(api_settings(max_body_bytes=4096), with_broker=False)) as client:
        response = await client.post("/scores", content=EndlessBody(), headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 413
    assert response.headers["idempotency-key"] == "order-43"


async def test_without_an_idempotency_key_one_is_generated_for_each_request() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        first = await client.post("/scores", content=GOOD, headers={**JSON, "x-api-key": KEY1})
        second = await client.post("/scores", content=GOOD, headers={**JSON, "x-api-key": KEY1})
    assert first.status_code == second.status_code == 503
    generated = first.headers["idempotency-key"]
    assert len(generated) == 32 and set(generated) <= set("0123456789abcdef")
    assert second.headers["idempotency-key"] != generated


async def test_no_idempotency_key_on_a_401_or_when_the_header_itself_is_refused() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        unauthorized = await client.post("/scores", content=GOOD, headers={**JSON, "idempotency-key": "k-1"})
        bad_key = await client.post("/scores", content=GOOD,
                                    headers={**JSON, "x-api-key": KEY1, "idempotency-key": "x" * 300})
    assert unauthorized.status_code == 401 and "idempotency-key" not in unauthorized.headers
    assert bad_key.status_code == 400 and "idempotency-key" not in bad_key.headers


# --- names -------------------------------------------------------------------------------------------------

async def test_names_with_format_characters_pass_and_spoofing_or_broken_ones_are_400() -> None:
    headers = {**JSON, "x-api-key": KEY1}
    zwj = '{"user_id": "u1", "action_id": "win_match", "username": "\U0001f469\u200d\U0001f4bb Dev"}'.encode()
    bidi = b'{"user_id": "u1", "action_id": "win_match", "username": "abc\\u202edcba"}'
    lone = b'{"user_id": "u1", "action_id": "win_match", "username": "abc\\ud800"}'
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        accepted = await client.post("/scores", content=zwj, headers=headers)
        spoof = await client.post("/scores", content=bidi, headers=headers)
        surrogate = await client.post("/scores", content=lone, headers=headers)
    assert accepted.status_code == 503  # valid: it got as far as the (absent) event log
    assert spoof.status_code == 400
    assert "username: Value error, must not contain bidirectional override" in spoof.json()["detail"]
    assert surrogate.status_code == 400 and "malformed JSON" in surrogate.json()["detail"]


# --- OpenAPI -----------------------------------------------------------------------------------------------

async def test_the_openapi_documents_the_idempotency_key_header_and_both_422s() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/scores"]["post"]["responses"]
    for status in ("200", "202", "400", "413", "422", "503"):
        assert "Idempotency-Key" in responses[status]["headers"], status
    assert "headers" not in responses["401"]
    assert set(spec["components"]["schemas"]["ScoreAppliedBody"]["properties"]) == {"status", "new_score",
                                                                                   "event_id"}
    refusal = responses["422"]
    assert "catalog" in refusal["description"] and "refused" in refusal["description"]
    refs = {s["$ref"] for s in refusal["content"]["application/json"]["schema"]["anyOf"]}
    assert refs == {"#/components/schemas/ErrorBody", "#/components/schemas/RefusedBody"}
    assert spec["components"]["schemas"]["RefusedBody"]["required"] == ["detail", "event_id"]


async def test_the_docs_page_and_its_assets_are_served_offline_without_a_key() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        page = await client.get("/docs")
        script = await client.get("/docs-assets/swagger-ui-bundle.js")
        missing = await client.get("/docs-assets/nope.js")
    assert page.status_code == 200 and "/docs-assets/swagger-ui.css" in page.text and "cdn" not in page.text.lower()
    assert script.status_code == 200 and len(script.content) > 10_000
    assert missing.status_code == 404


async def test_the_openapi_shows_an_example_for_the_request_and_each_answer_of_post_scores() -> None:
    async with asgi_client(create_app(api_settings(), with_broker=False)) as client:
        spec = (await client.get("/openapi.json")).json()
    post = spec["paths"]["/scores"]["post"]
    schemas = spec["components"]["schemas"]
    request = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert request == "ScoreRequest" and schemas[request]["examples"]
    for status in ("200", "202"):
        ref = post["responses"][status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert schemas[ref]["examples"], status


async def test_post_scores_beyond_the_keys_rate_limit_is_429_with_retry_after_and_counted() -> None:
    app = create_app(api_settings(rate_limit="3/minute"), with_broker=False)
    body = b'{"user_id": "u1", "action_id": "fly_to_moon"}'  # refused (422) when admitted: no broker needed
    async with asgi_client(app) as client:
        admitted = [await client.post("/scores", content=body, headers={**JSON, "x-api-key": KEY1}) for _ in range(3)]
        limited = await client.post("/scores", content=body, headers={**JSON, "x-api-key": KEY1})
        other_key = await client.post("/scores", content=body, headers={**JSON, "x-api-key": KEY2})
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in admitted] == [422, 422, 422]
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert len(limited.headers["idempotency-key"]) == 32  # generated: the key to retry with after waiting
    assert "rate limit" in limited.json()["detail"] and KEY1 not in limited.text
    assert other_key.status_code == 422  # per key
    assert "scoreboard_api_rate_limited_total 1.0" in metrics
    assert 'code="429",method="POST",route="/scores"} 1.0' in metrics


async def test_an_empty_rate_limit_turns_it_off() -> None:
    app = create_app(api_settings(rate_limit=""), with_broker=False)
    async with asgi_client(app) as client:
        statuses = {(await client.post("/scores", content=b"{}", headers={**JSON, "x-api-key": KEY1})).status_code
                    for _ in range(50)}
    assert 429 not in statuses
