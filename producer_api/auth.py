"""API keys: their ids, the constant-time ``X-API-KEY`` check (run by ``middleware.ApiKeyCheck`` before a single
body byte is read), and the keyed event-id hash.

A configured key is ``id:secret`` or a bare ``secret``. The *id* names the client, not the secret: logs, metrics
and rate limits use it, and so does the idempotent event id, so a client whose key is rotated (``acme:old`` and
``acme:new`` configured side by side) keeps its idempotency — a retry sent with the new key of a request first
sent with the old one is the same event. A bare key's id is a hash prefix of it (``k-…``), never the key.

Every configured key is compared with ``hmac.compare_digest`` (no early exit). The matching credential is left in
the scope for the routes. Keys are never logged.

Admin keys (``X-ADMIN-KEY``, ``SCOREBOARD_ADMIN_KEYS``) are parsed and compared the same way by the same
middleware, for the ``/admin/`` paths only, and left in the scope under a key of their own (``AdminKey``): a write
key is never an admin key, nor the other way round (the settings refuse a key configured as both).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

HEADER = "X-API-KEY"
SCOPE_KEY = "scoreboard.api_key"
UNAUTHORIZED = orjson.dumps({"detail": "missing or invalid API key"})
ADMIN_HEADER = "X-ADMIN-KEY"
ADMIN_SCOPE_KEY = "scoreboard.admin_key"
UNAUTHORIZED_ADMIN = orjson.dumps({"detail": "missing or invalid admin key (X-ADMIN-KEY)"})
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class Credential:
    """One configured key: ``key_id`` may be shown anywhere, ``secret`` nowhere."""

    key_id: str
    secret: SecretStr


def hashed_id(secret: str) -> str:
    """The id of a key configured without one: a hash prefix, never the key."""
    return "k-" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def parse_key(entry: str) -> Credential:
    """``"acme:s3cret"`` -> id ``acme``; ``"s3cret"`` -> a hashed id. An entry with a ``:`` is always ``id:key``
    (see :func:`entry_problem`, which the settings apply first); the key may contain ``:`` after the id.

    An id is 1-64 of ``A-Z a-z 0-9 _ . -``, starting with a letter or digit.
    """
    name, sep, secret = entry.partition(":")
    if sep and secret and KEY_ID.fullmatch(name):
        return Credential(name, SecretStr(secret))
    return Credential(hashed_id(entry), SecretStr(entry))


def entry_problem(entry: str, position: int) -> str | None:
    """Why a configured entry is not a key (None when it is), naming its position and id, never the key: with a
    ``:`` it must be ``id:key`` with a valid id and a non-empty key (a bare key cannot contain ``:``)."""
    if ":" not in entry:
        return None
    name, _, secret = entry.partition(":")
    if not KEY_ID.fullmatch(name):
        return (f"entry {position}: the part before ':' must be a key id (1-64 of letters, digits, '_', '.', '-', "
                "starting with a letter or digit); a bare key cannot contain ':'")
    if not secret:
        return f"entry {position} (id {name}): the key after ':' is empty"
    if secret != secret.strip():
        return f"entry {position} (id {name}): the key after ':' begins or ends with blanks"
    if name.startswith("k-"):
        return f"entry {position} (id {name}): ids beginning with 'k-' are the hashed ids of bare keys"
    return None


def matching_key(keys: Iterable[tuple[Credential, bytes]], given: bytes) -> Credential | None:
    """The configured key equal to ``given``, comparing with every key in constant time."""
    matched: Credential | None = None
    for key, raw in keys:
        equal = hmac.compare_digest(raw, given)
        matched = key if equal else matched
    return matched


class ApiKeys:
    """The configured keys, encoded once; ``middleware.ApiKeyCheck`` calls ``match`` on every protected request."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        self.credentials = [parse_key(k.get_secret_value()) for k in keys]
        self._keys = [(c, c.secret.get_secret_value().encode()) for c in self.credentials]

    def match(self, given: bytes | None) -> Credential | None:
        return matching_key(self._keys, given or b"")


class EventIds:
    """Idempotent event ids: HMAC-SHA-256 under the server's ``SCOREBOARD_EVENT_ID_SECRET`` of (key id, user id,
    Idempotency-Key). Anyone reading ``score-events`` sees the id but cannot test guesses of anything in it
    offline without the secret; every replica configured with the same secret derives the same id."""

    def __init__(self, secret: SecretStr) -> None:
        self._mac = hmac.new(secret.get_secret_value().encode(), digestmod=hashlib.sha256)

    def __call__(self, key_id: str, user_id: str, idempotency_key: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{key_id}\n{user_id}\n{idempotency_key}".encode())
        return "idem-" + mac.hexdigest()[:40]


# Documents the header in OpenAPI (the "Authorize" button of /docs); ``middleware.ApiKeyCheck`` does the checking.
_documented = APIKeyHeader(name=HEADER, auto_error=False, description="One of SCOREBOARD_API_KEYS.")


async def _api_key(request: Request, _: Annotated[str | None, Security(_documented)]) -> Credential:
    key = request.scope.get(SCOPE_KEY)
    if not isinstance(key, Credential):  # only reachable if the ApiKeyCheck middleware were missing
        raise RuntimeError("the ApiKeyCheck middleware is not installed in front of this route")
    return key


ApiKey = Annotated[Credential, Depends(_api_key)]


# The same for the admin routes: documented as their own security scheme; ``middleware.ApiKeyCheck`` checks.
_admin_documented = APIKeyHeader(name=ADMIN_HEADER, scheme_name="AdminKeyHeader", auto_error=False,
                                 description="One of SCOREBOARD_ADMIN_KEYS (never an API key).")


async def _admin_key(request: Request, _: Annotated[str | None, Security(_admin_documented)]) -> Credential:
    key = request.scope.get(ADMIN_SCOPE_KEY)
    if not isinstance(key, Credential):  # only reachable if the ApiKeyCheck middleware were missing
        raise RuntimeError("the ApiKeyCheck middleware (with admin keys) is not installed in front of this route")
    return key


AdminKey = Annotated[Credential, Depends(_admin_key)]
