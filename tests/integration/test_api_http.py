"""Every answer of the write API through real HTTP to a real ``python -m producer_api`` on the real broker.

One API process per module (``shared_api``) serves these stateless checks; the 202/200 paths that need their
own settings or the worker live in test_api_produce.py and test_api_worker.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest

from tests.fixtures.api import KEY1, KEY2, SharedApi

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}
GOOD = b'{"user_id": "player-1", "action_id": "complete_level_5"}'
ASYNC = {"prefer": "respond-async"}


@pytest.fixture(scope="module")
def api(shared_api: SharedApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_api.url, timeout=30.0) as client:
        yield client


async def raw_exchange(url: str, head: str, timeout: float = 30.0) -> bytes:
    """Send only a request head (no body) over a raw socket; return what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode("latin-1"))
        await writer.drain()
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        length = next(int(line.split(b":")[1]) for line in head_bytes.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return head_bytes + await asyncio.wait_for(reader.readexactly(length), timeout)
    finally:
        writer.close()


# --- 401 ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("POST", "/scores"), ("GET", "/actions")])
def test_401_when_the_key_is_missing(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path, content=GOOD if method == "POST" else None, headers=JSON)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key"}


@pytest.mark.parametrize("wrong", ["wrong-key", KEY1 + "x", KEY1[:-1], KEY1.upper(), f"{KEY1},{KEY2}", ""])
def test_401_when_the_key_is_wrong(api: httpx.Client, wrong: str) -> None:
    response = api.post("/scores", content=GOOD, headers={**JSON, "x-api-key": wrong})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key"}


async def test_401_is_sent_before_the_body_is_read(shared_api: SharedApi) -> None:
    """``Expect: 100-continue`` with a 100 MB body never sent: the server answers 401 without asking for it."""
    answer = await raw_exchange(shared_api.url, (
        "POST /scores HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n"
    ))
    assert answer.startswith(b"HTTP/1.1 401 "), answer
    assert b"100 Continue" not in answer
    assert answer.endswith(b'{"detail":"missing or invalid API key"}')


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"user_id": ""}', b"x" * 100_000],
                         ids=["malformed", "non-object", "invalid-field", "oversized"])
def test_401_wins_over_400_and_413_without_a_key(api: httpx.Client, body: bytes) -> None:
    response = api.post("/scores", content=body, headers=JSON)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key"}


@pytest.mark.parametrize("key", [KEY1, KEY2])
def test_both_rotated_keys_are_accepted(api: httpx.Client, key: str) -> None:
    posted = api.post("/scores", content=GOOD, headers={**JSON, **ASYNC, "x-api-key": key})
    assert posted.status_code == 202
    assert api.get("/actions", headers={"x-api-key": key}).status_code == 200


# --- 400 ---------------------------------------------------------------------------------------------------

BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "malformed-json": (b'{"user_id": "u1", "action_id": ', "malformed JSON"),
    "empty-body": (b"", "malformed JSON"),
    "trailing-garbage": (b'{"user_id": "u1", "action_id": "win_match"} x', "malformed JSON"),
    "not-utf8": (b'{"user_id": "\xff\xfe", "action_id": "win_match"}', "malformed JSON"),
    "array-body": (b'[{"user_id": "u1", "action_id": "win_match"}]', "must be a JSON object"),
    "string-body": (b'"u1"', "must be a JSON object"),
    "null-body": (b"null", "must be a JSON object"),
    "missing-user_id": (b'{"action_id": "win_match"}', "user_id: Field required"),
    "missing-action_id": (b'{"user_id": "u1"}', "action_id: Field required"),
    "user_id-number": (b'{"user_id": 42, "action_id": "win_match"}', "user_id: Input should be a valid string"),
    "user_id-null": (b'{"user_id": null, "action_id": "win_match"}', "user_id: Input should be a valid string"),
    "action_id-list": (b'{"user_id": "u1", "action_id": ["win_match"]}', "action_id: Input should be a valid"),
    "username-number": (b'{"user_id": "u1", "action_id": "win_match", "username": 5}', "username:"),
    "unknown-field": (b'{"user_id": "u1", "action_id": "win_match", "score": 100}',
                      "score: Extra inputs are not permitted"),
    "empty-user_id": (b'{"user_id": "", "action_id": "win_match"}', "user_id: String should have at least 1"),
    "blank-user_id": (b'{"user_id": "   ", "action_id": "win_match"}', "user_id: Value error, must not be blank"),
    "long-user_id": (b'{"user_id": "' + b"u" * 129 + b'", "action_id": "win_match"}',
                     "user_id: String should have at most 128 characters"),
    "newline-user_id": (b'{"user_id": "a\\nb", "action_id": "win_match"}', "must not contain control characters"),
    "nul-user_id": (b'{"user_id": "a\\u0000b", "action_id": "win_match"}', "must not contain control characters"),
    "c1-username": (b'{"user_id": "u1", "action_id": "win_match", "username": "a\\u0085b"}',
                    "username: Value error, must not contain control characters"),
    "line-separator-user_id": (b'{"user_id": "a\\u2028b", "action_id": "win_match"}',
                               "must not contain control characters"),
    "bidi-override-username": (b'{"user_id": "u1", "action_id": "win_match", "username": "abc\\u202egnp.exe"}',
                               "must not contain bidirectional override or isolate characters"),
    "bidi-isolate-user_id": (b'{"user_id": "a\\u2066b", "action_id": "win_match"}',
                             "must not contain bidirectional override or isolate characters"),
    "lone-surrogate-username": (b'{"user_id": "u1", "action_id": "win_match", "username": "\\ud800"}',
                                "malformed JSON"),
    "empty-action_id": (b'{"user_id": "u1", "action_id": ""}', "action_id: String should have at least 1"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_400_for_each_malformed_body(api: httpx.Client, case: str) -> None:
    body, message = BAD_BODIES[case]
    response = api.post("/scores", content=body, headers={**JSON, "x-api-key": KEY1, "idempotency-key": case})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert message in answer["detail"]
    assert answer["errors"] and all({"loc", "msg", "type"} <= set(e) for e in answer["errors"])
    assert response.headers["idempotency-key"] == case


def test_names_with_format_characters_are_accepted(api: httpx.Client) -> None:
    """ZWJ emoji, a zero width space in an id, a ZWNJ in a Persian name: format characters (Cf) are allowed."""
    for user_id, username in [("dev-1", "\U0001f469\u200d\U0001f4bb Dev"), ("a\u200bb", "Zoe\u0308"),
                              ("fa-1", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645")]:
        body = orjson.dumps({"user_id": user_id, "action_id": "win_match", "username": username})
        response = api.post("/scores", content=body, headers={**JSON, **ASYNC, "x-api-key": KEY1})
        assert response.status_code == 202, response.text


BAD_HEADERS: dict[str, tuple[dict[str, str | bytes], str]] = {
    "text-plain": ({"content-type": "text/plain"}, "Content-Type must be application/json"),
    "form": ({"content-type": "application/x-www-form-urlencoded"}, "Content-Type must be application/json"),
    "no-content-type": ({}, "Content-Type must be application/json"),
    "empty-idempotency-key": ({**JSON, "idempotency-key": ""}, "Idempotency-Key must be 1 to 255"),
    "long-idempotency-key": ({**JSON, "idempotency-key": "k" * 256}, "Idempotency-Key must be 1 to 255"),
    "non-ascii-idempotency-key": ({**JSON, "idempotency-key": "clé".encode()}, "Idempotency-Key must be 1 to 255"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_400_for_each_bad_header(api: httpx.Client, case: str) -> None:
    headers, message = BAD_HEADERS[case]
    request = api.build_request("POST", "/scores", content=GOOD, headers={**headers, "x-api-key": KEY1})
    if "content-type" not in headers:
        request.headers.pop("content-type", None)
    response = api.send(request)
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]


def test_boundary_values_are_accepted(api: httpx.Client) -> None:
    body = ('{"user_id": "' + "ü" * 128 + '", "action_id": "win_match", "username": "Zoë"}').encode()
    headers = {**JSON, **ASYNC, "x-api-key": KEY1, "idempotency-key": "~" * 255,
               "content-type": "application/json; charset=utf-8"}
    assert api.post("/scores", content=body, headers=headers).status_code == 202


# --- 413 ---------------------------------------------------------------------------------------------------

def test_413_for_a_declared_length_over_the_limit(api: httpx.Client) -> None:
    body = b'{"user_id": "u1", "action_id": "win_match", "username": "' + b"x" * 17_000 + b'"}'
    response = api.post("/scores", content=body, headers={**JSON, "x-api-key": KEY1})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 16384 bytes"}
    assert len(response.headers["idempotency-key"]) == 32  # generated: none was sent


def test_413_for_a_chunked_body_over_the_limit(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"user_id": "u1", "action_id": "win_match", "username": "'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}'

    response = api.post("/scores", content=chunks(), headers={**JSON, "x-api-key": KEY1})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 16384 bytes"}


async def test_413_is_sent_before_an_oversized_body_is_read(shared_api: SharedApi) -> None:
    answer = await raw_exchange(shared_api.url, (
        f"POST /scores HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nX-API-KEY: {KEY1}\r\n"
        "Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n"
    ))
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"100 Continue" not in answer


async def test_a_small_chunked_body_is_accepted(shared_api: SharedApi) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "chunky",'
        yield b' "action_id": "win_match"}'

    async with httpx.AsyncClient(base_url=shared_api.url, timeout=30.0) as client:
        response = await client.post("/scores", content=chunks(), headers={**JSON, **ASYNC, "x-api-key": KEY1})
    assert response.status_code == 202


# --- 422 ---------------------------------------------------------------------------------------------------

def test_422_only_for_an_action_not_in_the_catalog(api: httpx.Client) -> None:
    response = api.post("/scores", content=b'{"user_id": "u1", "action_id": "fly_to_moon"}',
                        headers={**JSON, "x-api-key": KEY1, "idempotency-key": "order-422"})
    assert response.status_code == 422
    assert response.json() == {"detail": "unknown action_id 'fly_to_moon'"}  # nothing logged: no event_id
    assert response.headers["idempotency-key"] == "order-422"


# --- other endpoints ---------------------------------------------------------------------------------------

def test_get_actions_lists_the_catalog(api: httpx.Client) -> None:
    response = api.get("/actions", headers={"x-api-key": KEY2})
    assert response.status_code == 200
    assert response.json() == {"actions": {
        "complete_level_1": 10, "complete_level_5": 50, "daily_login": 5, "win_match": 25, "find_secret": 100,
        "report_abuse_confirmed": -20, "lap_time_ms": {"min": 1, "max": 3600000},
        "match_score": {"min": 0, "max": 1000000}, "skill_rating": {"min": 0, "max": 5000},
    }}


def test_healthz_and_readyz_need_no_key(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_metrics_count_requests_by_route_and_code(api: httpx.Client) -> None:
    api.post("/scores", content=GOOD, headers=JSON)
    api.post("/scores", content=GOOD, headers={**JSON, **ASYNC, "x-api-key": KEY1})
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'scoreboard_api_requests_total{code="401",method="POST",route="/scores"}' in text
    assert 'scoreboard_api_requests_total{code="202",method="POST",route="/scores"}' in text
    assert 'scoreboard_api_request_duration_seconds_bucket{le="0.1",method="POST",route="/scores"}' in text
    assert "scoreboard_api_produce_errors_total 0.0" in text
    assert "scoreboard_api_pending_replies 0.0" in text
    assert 'scoreboard_api_replies_total{outcome="async"}' in text
    assert "process_cpu_seconds_total " in text and "process_resident_memory_bytes " in text
    assert "_created" not in text


def test_openapi_lists_the_real_status_codes(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    post = spec["paths"]["/scores"]["post"]
    assert set(post["responses"]) == {"200", "202", "400", "401", "413", "422", "429", "503", "504"}
    assert "Retry-After" in post["responses"]["429"]["headers"]
    assert "catalog" in post["responses"]["422"]["description"]
    assert "refused" in post["responses"]["422"]["description"]
    for status in ("200", "202", "503", "504"):
        assert "Idempotency-Key" in post["responses"][status]["headers"]
    for status in ("429", "503", "504"):
        assert "Retry-After" in post["responses"][status]["headers"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body_schema["properties"]) == {"user_id", "action_id", "username", "value"}
    assert "value action" in body_schema["properties"]["value"]["anyOf"][0]["description"]
    assert body_schema["required"] == ["user_id", "action_id"]
    assert body_schema["additionalProperties"] is False
    assert {p["name"] for p in post["parameters"]} >= {"idempotency-key", "prefer"}
    assert "X-API-KEY" in str(spec["components"]["securitySchemes"])
    assert "HTTPValidationError" not in str(post)
    assert set(spec["paths"]["/actions"]["get"]["responses"]) >= {"200", "401"}


def test_docs_page_is_served(api: httpx.Client) -> None:
    response = api.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text and "/openapi.json" in response.text
