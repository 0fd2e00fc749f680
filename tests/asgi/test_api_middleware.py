"""Each write-API middleware alone, around a trivial ASGI app that answers 200 and shows what reached it; and the
whole app: a middleware added after ``create_app`` sees ``POST /scores`` like every other request."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from producer_api.app import create_app
from producer_api.auth import SCOPE_KEY, ApiKeys, Credential
from producer_api.metrics import ApiMetrics
from producer_api.middleware import (
    IDEMPOTENCY_SCOPE_KEY,
    STATUS_KEY,
    ApiKeyCheck,
    BodyLimit,
    IdempotencyKeys,
    RateLimit,
    RequestMetrics,
)
from producer_api.rate_limit import KeyRateLimit
from tests.fixtures.api import KEY1, api_settings, asgi_client

pytestmark = pytest.mark.asgi

KEYS = ApiKeys((SecretStr("acme:0123456789abcdef"),))
ACME = {"x-api-key": "0123456789abcdef"}


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body, answers 200 with what the middlewares left in the scope."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    key = scope.get(SCOPE_KEY)
    seen = {"key_id": key.key_id if isinstance(key, Credential) else None,
            "idem": scope.get(IDEMPOTENCY_SCOPE_KEY), "body": len(body)}
    payload = orjson.dumps(seen)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_api_key_check_alone() -> None:
    app = ApiKeyCheck(inner, keys=KEYS, routes=frozenset({"/scores", "/healthz"}),
                      public_paths=frozenset({"/healthz"}))
    async with client(app) as c:
        assert (await c.get("/")).headers["location"] == "/docs"
        assert (await c.get("/nowhere", headers=ACME)).status_code == 404
        assert (await c.post("/scores")).status_code == 401
        assert (await c.post("/scores", headers={"x-api-key": "wrong"})).status_code == 401
        assert (await c.get("/healthz")).json()["key_id"] is None  # public: no key needed, none recorded
        assert (await c.post("/scores", headers=ACME)).json()["key_id"] == "acme"


async def test_rate_limit_alone_counts_per_key_id_on_post_scores_only() -> None:
    metrics = ApiMetrics()

    limited = RateLimit(inner, limit=KeyRateLimit("2/minute"), metrics=metrics)

    async def keyed(scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = Credential(dict(scope["headers"])[b"x-id"].decode(), SecretStr("x"))
        await limited(scope, receive, send)

    async with client(keyed) as c:
        codes = [(await c.post("/scores", headers={"x-id": "a"})).status_code for _ in range(3)]
        other = (await c.post("/scores", headers={"x-id": "b"})).status_code
        reads = {(await c.get("/actions", headers={"x-id": "a"})).status_code for _ in range(3)}
        last = await c.post("/scores", headers={"x-id": "a"})
    assert codes == [200, 200, 429] and other == 200 and reads == {200}
    assert 1 <= int(last.headers["retry-after"]) <= 60
    assert metrics.registry.get_sample_value("scoreboard_api_rate_limited_total") == 2


async def test_idempotency_keys_alone_check_generate_and_echo() -> None:
    async with client(IdempotencyKeys(inner)) as c:
        given = await c.post("/scores", headers={"idempotency-key": "order-1"})
        generated = await c.post("/scores")
        bad = await c.post("/scores", headers={"idempotency-key": "x" * 256})
        other = await c.get("/actions", headers={"idempotency-key": "order-1"})
    assert given.json()["idem"] == given.headers["idempotency-key"] == "order-1"
    assert len(generated.headers["idempotency-key"]) == 32 == len(generated.json()["idem"])
    assert bad.status_code == 400 and "idempotency-key" not in bad.headers
    assert other.json()["idem"] is None and "idempotency-key" not in other.headers  # POST /scores only


async def test_body_limit_alone_refuses_declared_and_streamed_bodies() -> None:
    async def chunks() -> Any:
        for _ in range(4):
            yield b"x" * 10

    async with client(BodyLimit(inner, max_body_bytes=20)) as c:
        assert (await c.post("/scores", content=b"x" * 20)).json()["body"] == 20
        declared = await c.post("/scores", content=b"x" * 21)
        assert declared.status_code == 413 and "20 bytes" in declared.json()["detail"]
        with pytest.raises(HTTPException) as err:  # the app's exception handler turns it into the 413
            await c.post("/scores", content=chunks())
    assert err.value.status_code == 413


async def test_request_metrics_alone_count_what_was_sent_or_noted() -> None:
    metrics = ApiMetrics()

    async def gone(scope: Scope, receive: Receive, send: Send) -> None:
        scope[STATUS_KEY] = 499  # the client left: nothing sent

    async with client(RequestMetrics(inner, metrics=metrics, routes=frozenset({"/scores"}))) as c:
        await c.post("/scores")
        await c.get("/elsewhere")
    async with client(RequestMetrics(gone, metrics=metrics, routes=frozenset({"/scores"}))) as c:
        with pytest.raises(AssertionError):  # httpx: the app sent no response
            await c.post("/scores")
    sample = metrics.registry.get_sample_value
    assert sample("scoreboard_api_requests_total", {"route": "/scores", "method": "POST", "code": "200"}) == 1
    assert sample("scoreboard_api_requests_total", {"route": "unmatched", "method": "GET", "code": "200"}) == 1
    assert sample("scoreboard_api_requests_total", {"route": "/scores", "method": "POST", "code": "499"}) == 1


async def test_a_middleware_added_after_create_app_sees_post_scores_too() -> None:
    app = create_app(api_settings(), with_broker=False)
    seen: list[str] = []

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(f"{scope['method']} {scope['path']}")
            await self.app(scope, receive, send)

    app.add_middleware(Spy)
    async with asgi_client(app) as c:
        answer = await c.post("/scores", content=b'{"user_id": "u", "action_id": "fly"}',
                              headers={"content-type": "application/json", "x-api-key": KEY1})
    assert answer.status_code == 422 and seen == ["POST /scores"]
