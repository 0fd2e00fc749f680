"""The front door: the one pure-ASGI middleware of the write API (metrics -> API key -> body size -> POST /scores).

One layer instead of three stacked middlewares, and ``POST /scores`` served right here by
``scores.ScoresEndpoint`` instead of through FastAPI's router and dependency resolution: in bench 2's profile
that machinery, not our code, was the largest share of the CPU per request. Every other request goes on to the
FastAPI app with a size-limited ``receive``.

What it guarantees for every HTTP request: ``/`` redirects to ``/docs``; a path nothing serves is a 404 with or
without a key; a 401 for a protected path without a valid key before a single body byte is read; a ``POST
/scores`` beyond the API key's rate limit is a 429 with ``Retry-After`` before its body is read
(:mod:`producer_api.rate_limit`); a 413 for a declared ``Content-Length`` over the limit before reading (for
``POST /scores`` decided by ``ScoresEndpoint`` right after the ``Idempotency-Key`` header), and for a streamed
body as soon as it passes the limit; one count (route, method, status) and one latency sample, 401, 413 and 429
included; one key-free access log line.
"""

from __future__ import annotations

import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api.asgi import ClientGone, declared_too_large, first_header, send_json
from producer_api.auth import SCOPE_KEY, UNAUTHORIZED, ApiKeys, EventIds
from producer_api.limits import BodyTooLarge, limited_receive, too_large_body
from producer_api.metrics import UNMATCHED, ApiMetrics, log_access
from producer_api.rate_limit import KeyRateLimit
from producer_api.scores import ScoresEndpoint

NOT_FOUND = b'{"detail":"Not Found: the write API serves POST /scores and GET /actions; see /docs"}'
CLIENT_GONE = 499  # counted, never sent: the client left before its request was whole (nginx's code)


class FrontDoor:
    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, keys: ApiKeys, public_paths: frozenset[str],
                 routes: frozenset[str], max_body_bytes: int, public_prefixes: tuple[str, ...] = (),
                 rate_limit: KeyRateLimit | None = None, event_ids: EventIds) -> None:
        self.app = app
        self.rate_limit = rate_limit or KeyRateLimit("")
        self.too_fast = orjson.dumps({"detail": f"rate limit for this API key exceeded ({self.rate_limit.spec}); "
                                                "retry after the Retry-After header's seconds"})
        self.public_prefixes = public_prefixes  # static files under these (the docs' assets): public, known
        self.metrics = metrics
        self.keys = keys
        self.public_paths = public_paths
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.too_large = too_large_body(max_body_bytes)
        self.scores = ScoresEndpoint(max_body_bytes, event_ids)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        try:
            status = await self._serve(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - start
            path: str = scope["path"]
            method: str = scope["method"]
            self.metrics.record(path if path in self.routes else UNMATCHED, method, status, elapsed)
            log_access(method, path, status, elapsed)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> int:
        path = scope["path"]
        if path == "/":  # the front page of an API is its documentation
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", b"/docs"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return 307
        public = path in self.public_paths or path.startswith(self.public_prefixes)
        if path not in self.routes and not public:  # nothing is served there, with a key or without
            return await send_json(send, 404, NOT_FOUND)
        if not public:
            key = self.keys.match(first_header(scope, b"x-api-key"))
            if key is None:
                return await send_json(send, 401, UNAUTHORIZED)
            scope[SCOPE_KEY] = key
            if path == "/scores" and scope["method"] == "POST":
                wait = self.rate_limit.retry_after(key)
                if wait is not None:
                    self.metrics.rate_limited.inc()
                    return await send_json(send, 429, self.too_fast, ((b"retry-after", b"%d" % wait),))
                try:  # checks the declared size itself, once it knows the Idempotency-Key its 413 carries
                    return await self.scores(scope, receive, send, key)
                except ClientGone:
                    return CLIENT_GONE
            if declared_too_large(scope, self.max_body_bytes):
                return await send_json(send, 413, self.too_large)
        elif declared_too_large(scope, self.max_body_bytes):
            return await send_json(send, 413, self.too_large)
        return await self._forward(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Everything but ``POST /scores``: the FastAPI app, its status code seen on the way out."""
        status = 500
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            await self.app(scope, limited_receive(receive, self.max_body_bytes), tracking_send)
        except BodyTooLarge:
            # normally the app's HTTPException handler answers; this covers a body read outside its reach
            if started:
                raise
            return await send_json(send, 413, self.too_large)
        return status
