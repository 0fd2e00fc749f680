"""The write API's pure-ASGI middlewares, one concern each, added with ``app.add_middleware`` (outermost first):

1. ``RequestMetrics`` — one count (route, method, status) and one latency sample per request, and one key-free
   access log line, whatever answered (a middleware below, a route, a client that left: 499, never sent).
2. ``ApiKeyCheck`` — ``/`` redirects to ``/docs``; a path nothing serves is a 404 with or without a key; a protected
   path without a valid ``X-API-KEY`` is a 401 before a single body byte is read; the matching credential is left
   in the scope for the routes. Paths under ``/admin/`` take the admin key (``X-ADMIN-KEY``) instead, never an
   API key; they are 404 when no admin key is configured (prod without ``SCOREBOARD_ADMIN_KEYS``).
3. ``IdempotencyKeys`` — for ``POST /scores``: a malformed ``Idempotency-Key`` is a 400; an absent one is
   generated; from here on every answer carries it in an ``Idempotency-Key`` header (the client retries with it),
   the 429 below included.
4. ``RateLimit`` — ``POST /scores`` beyond the API key's limit is a 429 with ``Retry-After``, before the body; an
   admin route beyond the admin key's limit (``SCOREBOARD_ADMIN_RATE_LIMIT``) likewise.
5. ``BodyLimit`` — a declared ``Content-Length`` over the limit is a 413 before reading; a streamed body is
   counted and refused as soon as it passes the limit.

They are ordinary middlewares of the app (Starlette builds them once into the stack, and anything added later with
``add_middleware`` wraps them like any other), so each can be tested on its own around a trivial app. Each one is a
class with ``__call__``, not ``BaseHTTPMiddleware``: no task or memory stream per request (bench 2).
"""

from __future__ import annotations

import re
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api import score_request
from producer_api.asgi import declared_too_large, first_header, send_json
from producer_api.auth import ADMIN_SCOPE_KEY, SCOPE_KEY, UNAUTHORIZED, UNAUTHORIZED_ADMIN, ApiKeys
from producer_api.errors import BadRequest
from producer_api.limits import limited_receive, too_large_body
from producer_api.metrics import UNMATCHED, ApiMetrics, log_access
from producer_api.rate_limit import KeyRateLimit

NOT_FOUND = (b'{"detail":"Not Found: the write API serves POST /scores, GET /actions and the moderation routes under '
             b'/admin/; see /docs"}')
STATUS_KEY = "scoreboard.status"  # a status known without a response: 499 (the client left mid-body)
IDEMPOTENCY_SCOPE_KEY = "scoreboard.idempotency_key"
IDEMPOTENCY_KEY = b"idempotency-key"
ADMIN_PREFIX = "/admin/"
# (the compiled path of a route with parameters, its template): the admin routes, matched only under ADMIN_PREFIX
Templates = tuple[tuple[re.Pattern[str], str], ...]


def template_of(path: str, templates: Templates) -> str | None:
    """The route template (``/admin/users/{user_id}/ban``) a concrete ``/admin/...`` path matches, if any."""
    if path.startswith(ADMIN_PREFIX):
        for pattern, template in templates:
            if pattern.match(path):
                return template
    return None


def is_post_scores(scope: Scope) -> bool:
    return scope["path"] == "/scores" and scope["method"] == "POST"  # type: ignore[no-any-return]


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, routes: frozenset[str],
                 templates: Templates = ()) -> None:
        self.app, self.metrics, self.routes, self.templates = app, metrics, routes, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            status = scope.get(STATUS_KEY, status)
            elapsed = time.perf_counter() - start
            path: str = scope["path"]
            method: str = scope["method"]
            route = path if path in self.routes else template_of(path, self.templates) or UNMATCHED
            self.metrics.record(route, method, status, elapsed)
            log_access(method, path, status, elapsed)


class ApiKeyCheck:
    def __init__(self, app: ASGIApp, *, keys: ApiKeys, routes: frozenset[str], public_paths: frozenset[str],
                 public_prefixes: tuple[str, ...] = (), admin_keys: ApiKeys | None = None,
                 admin_routes: Templates = ()) -> None:
        """``admin_keys`` None (or holding no key): every ``/admin/`` path is a 404; ``admin_routes``: the
        templates served there."""
        self.app, self.keys, self.routes = app, keys, routes
        self.public_paths, self.public_prefixes = public_paths, public_prefixes
        self.admin_keys = admin_keys if admin_keys is not None and admin_keys.credentials else None
        self.admin_routes = admin_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/":  # the front page of an API is its documentation
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", b"/docs"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if path in self.public_paths or path.startswith(self.public_prefixes):
            await self.app(scope, receive, send)
            return
        if path.startswith(ADMIN_PREFIX):
            await self.admin(scope, receive, send)
            return
        if path not in self.routes:  # nothing is served there, with a key or without
            await send_json(send, 404, NOT_FOUND)
            return
        key = self.keys.match(first_header(scope, b"x-api-key"))
        if key is None:
            await send_json(send, 401, UNAUTHORIZED)
            return
        scope[SCOPE_KEY] = key
        await self.app(scope, receive, send)

    async def admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.admin_keys is None or template_of(scope["path"], self.admin_routes) is None:
            await send_json(send, 404, NOT_FOUND)  # admin routes off (no admin key configured), or no such route
            return
        key = self.admin_keys.match(first_header(scope, b"x-admin-key"))
        if key is None:
            await send_json(send, 401, UNAUTHORIZED_ADMIN)
            return
        scope[ADMIN_SCOPE_KEY] = key
        await self.app(scope, receive, send)


class RateLimit:
    def __init__(self, app: ASGIApp, *, limit: KeyRateLimit, metrics: ApiMetrics,
                 admin_limit: KeyRateLimit | None = None) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics
        self.admin_limit = admin_limit
        self.too_fast = orjson.dumps({"detail": f"rate limit for this API key exceeded ({limit.spec}); "
                                                "retry after the Retry-After header's seconds"})
        self.admin_too_fast = orjson.dumps({
            "detail": f"rate limit for this admin key exceeded ({admin_limit.spec if admin_limit else ''}); "
                      "retry after the Retry-After header's seconds"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if SCOPE_KEY in scope and is_post_scores(scope):
                wait = self.limit.retry_after(scope[SCOPE_KEY])
                if wait is not None:
                    self.metrics.rate_limited.inc()
                    await send_json(send, 429, self.too_fast, ((b"retry-after", b"%d" % wait),))
                    return
            elif ADMIN_SCOPE_KEY in scope and self.admin_limit is not None:
                wait = self.admin_limit.retry_after(scope[ADMIN_SCOPE_KEY])
                if wait is not None:
                    self.metrics.admin_rate_limited.inc()
                    await send_json(send, 429, self.admin_too_fast, ((b"retry-after", b"%d" % wait),))
                    return
        await self.app(scope, receive, send)


class IdempotencyKeys:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_post_scores(scope):
            await self.app(scope, receive, send)
            return
        raw = first_header(scope, IDEMPOTENCY_KEY)
        try:
            idem = score_request.check_idempotency_key(None if raw is None else raw.decode("latin-1"))
        except BadRequest as exc:  # the one answer that cannot carry the key
            await send_json(send, 400, orjson.dumps({"detail": exc.detail, "errors": exc.errors}))
            return
        if idem is None:
            idem = score_request.new_idempotency_key()
        scope[IDEMPOTENCY_SCOPE_KEY] = idem
        echo = (IDEMPOTENCY_KEY, idem.encode("ascii"))  # printable ASCII: checked or generated

        async def echoing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        await self.app(scope, receive, echoing)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.too_large = too_large_body(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope, self.max_body_bytes):
            await send_json(send, 413, self.too_large)
            return
        await self.app(scope, limited_receive(receive, self.max_body_bytes), send)
