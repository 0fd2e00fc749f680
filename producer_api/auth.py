"""``X-API-KEY`` check as a pure ASGI middleware, so a bad key is answered before a single body byte is read.

Every configured key is compared with ``hmac.compare_digest`` (no early exit). The matching key is left in
the scope (as a ``SecretStr``) for the routes that derive per-key idempotent event ids. Keys are never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Annotated

import orjson
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = "X-API-KEY"
SCOPE_KEY = "scoreboard.api_key"
UNAUTHORIZED = orjson.dumps({"detail": "missing or invalid API key"})


def matching_key(keys: Iterable[tuple[SecretStr, bytes]], given: bytes) -> SecretStr | None:
    """The configured key equal to ``given``, comparing with every key in constant time."""
    matched: SecretStr | None = None
    for key, raw in keys:
        equal = hmac.compare_digest(raw, given)
        matched = key if equal else matched
    return matched


class ApiKeyMiddleware:
    """401 for requests to protected paths without a valid key; runs before routing and body parsing."""

    def __init__(self, app: ASGIApp, keys: tuple[SecretStr, ...], public_paths: frozenset[str]) -> None:
        self.app = app
        self.keys = [(k, k.get_secret_value().encode()) for k in keys]
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-api-key"), b"")
        key = matching_key(self.keys, given)
        if key is None:
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(UNAUTHORIZED)).encode()),
            ]})
            await send({"type": "http.response.body", "body": UNAUTHORIZED})
            return
        scope[SCOPE_KEY] = key
        await self.app(scope, receive, send)


# Documents the header in OpenAPI (the "Authorize" button of /docs); the middleware above does the checking.
_documented = APIKeyHeader(name=HEADER, auto_error=False, description="One of SCOREBOARD_API_KEYS.")


async def _api_key(request: Request, _: Annotated[str | None, Security(_documented)]) -> SecretStr:
    key = request.scope.get(SCOPE_KEY)
    if not isinstance(key, SecretStr):  # only reachable if a route were mounted outside the middleware
        raise RuntimeError("API key middleware is not installed in front of this route")
    return key


ApiKey = Annotated[SecretStr, Depends(_api_key)]
