"""``X-API-KEY``: ``ApiKeyMiddleware`` checks it on every request to a protected path before a single body byte is
read (401 otherwise), and ``ApiKey`` documents it for the FastAPI routes.

Every configured key is compared with ``hmac.compare_digest`` (no early exit). The matching key is left in
the scope (as a ``SecretStr``) for the routes that derive per-key idempotent event ids. Keys are never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable
from typing import Annotated

import orjson
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from producer_api.asgi import first_header, send_json

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


class ApiKeys:
    """The configured keys, encoded once; ``match`` is what the middleware calls on every protected request."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        self._keys = [(k, k.get_secret_value().encode()) for k in keys]

    def match(self, given: bytes | None) -> SecretStr | None:
        return matching_key(self._keys, given or b"")


class ApiKeyMiddleware:
    """401 for an HTTP request to any path but ``public_paths`` without one of ``keys`` in ``X-API-KEY``, sent
    before the body is read (a client sending ``Expect: 100-continue`` never gets its ``100 Continue``); the
    matching key goes into ``scope[SCOPE_KEY]``."""

    def __init__(self, app: ASGIApp, *, keys: Iterable[SecretStr], public_paths: Collection[str]) -> None:
        self.app = app
        self.keys = ApiKeys(keys)
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.public_paths:
            key = self.keys.match(first_header(scope, b"x-api-key"))
            if key is None:
                await send_json(send, 401, UNAUTHORIZED)
                return
            scope[SCOPE_KEY] = key
        await self.app(scope, receive, send)


# Documents the header in OpenAPI (the "Authorize" button of /docs); ApiKeyMiddleware does the checking.
_documented = APIKeyHeader(name=HEADER, auto_error=False, description="One of SCOREBOARD_API_KEYS.")


async def _api_key(request: Request, _: Annotated[str | None, Security(_documented)]) -> SecretStr:
    key = request.scope.get(SCOPE_KEY)
    if not isinstance(key, SecretStr):  # only reachable if the app were built without ApiKeyMiddleware
        raise RuntimeError("ApiKeyMiddleware (the API key check) is not installed in front of this route")
    return key


ApiKey = Annotated[SecretStr, Depends(_api_key)]
