"""The write API's middlewares, each alone in front of a tiny ASGI app (no FastAPI, no other middleware).

``Exchange`` drives one HTTP request through an ASGI app in memory and records what the app asked for (the body
messages it pulled) and what it sent; ``Echo`` is the tiny app: it reads the whole body (unless told not to),
remembers the scope it saw and answers 202 (to HTTP; any other scope it only remembers).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api.asgi import ClientGone
from producer_api.auth import SCOPE_KEY as API_KEY_SCOPE
from producer_api.auth import ApiKeyMiddleware
from producer_api.idempotency import SCOPE_KEY as IDEMPOTENCY_SCOPE
from producer_api.idempotency import IdempotencyKeyMiddleware
from producer_api.limits import BodyLimitMiddleware, BodyTooLarge
from producer_api.metrics import ApiMetrics, MetricsMiddleware

pytestmark = pytest.mark.unit


@dataclass
class Exchange:
    method: str = "POST"
    path: str = "/scores"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=lambda: [b"{}"])
    disconnect_after: bool = False  # after the chunks, the client leaves instead of finishing the body
    pulled: int = 0  # body messages the app asked for
    sent: list[Message] = field(default_factory=list)

    def scope(self) -> Scope:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": self.method,
                "scheme": "http", "path": self.path, "raw_path": self.path.encode(), "query_string": b"",
                "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
                "state": {}}

    async def receive(self) -> Message:
        index, self.pulled = self.pulled, self.pulled + 1
        if index < len(self.chunks):
            more = index + 1 < len(self.chunks) or self.disconnect_after
            return {"type": "http.request", "body": self.chunks[index], "more_body": more}
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, app: ASGIApp) -> Exchange:
        await app(self.scope(), self.receive, self.send)
        return self

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)

    @property
    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return next((list(m["headers"]) for m in self.sent if m["type"] == "http.response.start"), [])

    @property
    def body(self) -> Any:
        return orjson.loads(b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"))


class Echo:
    """The tiny app: reads the body (``read=False``: never asks for it), keeps the scope, answers 202."""

    def __init__(self, read: bool = True, raises: BaseException | None = None) -> None:
        self.read = read
        self.raises = raises
        self.scopes: list[Scope] = []
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] != "http":
            return
        if self.read:
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                body, more = body + message.get("body", b""), message.get("more_body", False)
            self.bodies.append(body)
        if self.raises is not None:
            raise self.raises
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


async def lifespan_passes_through(middleware: ASGIApp, inner: Echo) -> None:
    """Anything but HTTP (here: a lifespan scope) goes to the app untouched."""
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def receive() -> Message:
        raise AssertionError("not reached")

    async def send(_: Message) -> None:
        raise AssertionError("not reached")

    await middleware(scope, receive, send)
    assert inner.scopes[-1] is scope


# --- ApiKeyMiddleware -------------------------------------------------------------------------------------------

KEYS = (SecretStr("alpha"), SecretStr("beta"))


async def test_api_key_missing_or_wrong_is_401_before_the_app_or_the_body() -> None:
    inner = Echo()
    middleware = ApiKeyMiddleware(inner, keys=KEYS, public_paths={"/healthz"})
    for headers in ({}, {"x-api-key": "gamma"}, {"x-api-key": "alph"}, {"x-api-key": "alpha,beta"}):
        exchange = await Exchange(headers=headers).run(middleware)
        assert exchange.status == 401 and exchange.body == {"detail": "missing or invalid API key"}
        assert exchange.pulled == 0
    assert inner.scopes == []


async def test_api_key_match_is_left_in_the_scope_and_public_paths_need_none() -> None:
    inner = Echo()
    middleware = ApiKeyMiddleware(inner, keys=KEYS, public_paths={"/healthz"})
    assert (await Exchange(headers={"x-api-key": "beta"}).run(middleware)).status == 202
    assert inner.scopes[-1][API_KEY_SCOPE] is KEYS[1]
    assert (await Exchange(method="GET", path="/healthz").run(middleware)).status == 202
    assert API_KEY_SCOPE not in inner.scopes[-1]
    await lifespan_passes_through(middleware, inner)


# --- IdempotencyKeyMiddleware -----------------------------------------------------------------------------------

async def test_the_clients_idempotency_key_is_in_the_scope_and_on_the_answer() -> None:
    inner = Echo()
    middleware = IdempotencyKeyMiddleware(inner, paths={"/scores"})
    exchange = await Exchange(headers={"idempotency-key": "order-42"}).run(middleware)
    assert exchange.status == 202
    assert exchange.response_headers == [(b"content-type", b"application/json"), (b"idempotency-key", b"order-42")]
    assert inner.scopes[-1][IDEMPOTENCY_SCOPE] == "order-42"


async def test_a_missing_idempotency_key_is_generated_anew_for_each_request() -> None:
    inner = Echo()
    middleware = IdempotencyKeyMiddleware(inner, paths={"/scores"})
    first = dict((await Exchange().run(middleware)).response_headers)[b"idempotency-key"].decode()
    second = dict((await Exchange().run(middleware)).response_headers)[b"idempotency-key"].decode()
    assert re.fullmatch("[0-9a-f]{32}", first) and first != second
    assert [s[IDEMPOTENCY_SCOPE] for s in inner.scopes] == [first, second]


async def test_a_malformed_idempotency_key_is_400_without_the_header_and_the_app_is_not_called() -> None:
    inner = Echo()
    middleware = IdempotencyKeyMiddleware(inner, paths={"/scores"})
    exchange = await Exchange(headers={"idempotency-key": "x" * 256}).run(middleware)
    assert exchange.status == 400 and exchange.pulled == 0 and inner.scopes == []
    assert exchange.body["errors"][0]["loc"] == ["header", "idempotency-key"]
    assert b"idempotency-key" not in dict(exchange.response_headers)


async def test_other_paths_and_methods_pass_without_an_idempotency_key() -> None:
    inner = Echo()
    middleware = IdempotencyKeyMiddleware(inner, paths={"/scores"})
    for exchange in (Exchange(path="/actions", headers={"idempotency-key": "x" * 256}),
                     Exchange(method="GET", headers={"idempotency-key": "k"})):
        await exchange.run(middleware)
        assert exchange.status == 202 and b"idempotency-key" not in dict(exchange.response_headers)
        assert IDEMPOTENCY_SCOPE not in inner.scopes[-1]
    await lifespan_passes_through(middleware, inner)


# --- BodyLimitMiddleware ----------------------------------------------------------------------------------------

async def test_a_declared_length_over_the_limit_is_413_before_the_app_or_the_body() -> None:
    inner = Echo()
    middleware = BodyLimitMiddleware(inner, max_body_bytes=100)
    exchange = await Exchange(headers={"content-length": "101"}, chunks=[b"x" * 101]).run(middleware)
    assert exchange.status == 413 and exchange.body == {"detail": "request body larger than 100 bytes"}
    assert exchange.pulled == 0 and inner.scopes == []


async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    middleware = BodyLimitMiddleware(Echo(), max_body_bytes=100)
    exchange = Exchange(chunks=[b"x" * 60, b"x" * 60, b"x" * 60])
    with pytest.raises(BodyTooLarge) as refused:  # the app's HTTPException handler (or the route) answers it
        await exchange.run(middleware)
    assert exchange.pulled == 2 and exchange.sent == []
    assert refused.value.status_code == 413
    assert orjson.loads(refused.value.body()) == {"detail": "request body larger than 100 bytes"}


async def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    inner = Echo()
    middleware = BodyLimitMiddleware(inner, max_body_bytes=100)
    assert (await Exchange(headers={"content-length": "100"}, chunks=[b"x" * 100]).run(middleware)).status == 202
    assert (await Exchange(chunks=[b"x" * 50, b"y" * 50]).run(middleware)).status == 202
    assert inner.bodies == [b"x" * 100, b"x" * 50 + b"y" * 50]
    await lifespan_passes_through(middleware, inner)


# --- MetricsMiddleware ------------------------------------------------------------------------------------------

def samples(metrics: ApiMetrics) -> str:
    return generate_latest(metrics.registry).decode()


async def test_each_request_is_counted_by_route_method_and_the_status_sent(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ApiMetrics()
    middleware = MetricsMiddleware(Echo(), metrics=metrics, routes={"/scores"})
    caplog.set_level(logging.INFO, logger="producer_api.access")
    await Exchange(headers={"x-api-key": "secret-key"}).run(middleware)
    await Exchange(path="/no/such/path\n").run(middleware)
    text = samples(metrics)
    assert 'scoreboard_api_requests_total{code="202",method="POST",route="/scores"} 1.0' in text
    assert 'scoreboard_api_requests_total{code="202",method="POST",route="unmatched"} 1.0' in text
    assert 'scoreboard_api_request_duration_seconds_count{method="POST",route="/scores"} 1.0' in text
    assert "/no/such/path" not in text
    lines = [r.getMessage() for r in caplog.records if r.name == "producer_api.access"]
    assert [line.rsplit(" ", 1)[0] for line in lines] == ["POST /scores 202", "POST /no/such/path\\n 202"]
    assert "secret-key" not in caplog.text


async def test_an_app_that_raises_is_counted_500_and_the_error_goes_on() -> None:
    metrics = ApiMetrics()
    middleware = MetricsMiddleware(Echo(raises=ValueError("bug")), metrics=metrics, routes={"/scores"})
    with pytest.raises(ValueError, match="bug"):
        await Exchange().run(middleware)
    assert 'scoreboard_api_requests_total{code="500",method="POST",route="/scores"} 1.0' in samples(metrics)


async def test_a_client_that_left_mid_body_is_counted_499_and_nothing_is_sent() -> None:
    metrics, inner = ApiMetrics(), Echo()
    middleware = MetricsMiddleware(inner, metrics=metrics, routes={"/scores"})
    exchange = await Exchange(chunks=[b'{"user_id"'], disconnect_after=True).run(middleware)
    assert exchange.sent == []
    assert 'scoreboard_api_requests_total{code="499",method="POST",route="/scores"} 1.0' in samples(metrics)
    await lifespan_passes_through(middleware, inner)
