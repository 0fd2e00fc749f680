"""``X-API-KEY`` check, run by the front door (``producer_api.front``) before a single body byte is read.

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
    """The configured keys, encoded once; ``match`` is what the front door calls on every protected request."""

    def __init__(self, keys: tuple[SecretStr, ...]) -> None:
        self._keys = [(k, k.get_secret_value().encode()) for k in keys]

    def match(self, given: bytes | None) -> SecretStr | None:
        return matching_key(self._keys, given or b"")


# Documents the header in OpenAPI (the "Authorize" button of /docs); the front door does the checking.
_documented = APIKeyHeader(name=HEADER, auto_error=False, description="One of SCOREBOARD_API_KEYS.")


async def _api_key(request: Request, _: Annotated[str | None, Security(_documented)]) -> SecretStr:
    key = request.scope.get(SCOPE_KEY)
    if not isinstance(key, SecretStr):  # only reachable if a route were mounted outside the front door
        raise RuntimeError("the front door (API key check) is not installed in front of this route")
    return key


ApiKey = Annotated[SecretStr, Depends(_api_key)]
