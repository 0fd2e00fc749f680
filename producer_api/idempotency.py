"""The ``Idempotency-Key`` of ``POST /scores``: checked, or generated when absent, echoed on every answer; and the
event id derived from it.

Idempotency is scoped by (API key, ``user_id``, ``Idempotency-Key``): the event id is a hash of the three, so one
key sent for two users is two events. A request without an ``Idempotency-Key`` gets one generated here; the answer
carries it, and a retry with it has the same event id (and counts once).

``IdempotencyKeyMiddleware`` runs after the API key check and before the body-size limit, so that a malformed
key is a 400 even for a body declared too large, and that every later answer (the limit's 413 included) carries
the key in an ``Idempotency-Key`` header. Only the 401 and that 400 about the header itself go without it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api.asgi import header_text, send_json
from producer_api.errors import BadRequest, problem

HEADER = b"idempotency-key"
SCOPE_KEY = "scoreboard.idempotency_key"  # the request's key (the client's or a generated one), as str
MAX_IDEMPOTENCY_KEY = 255


def check_idempotency_key(value: str | None) -> str | None:
    """1..255 printable ASCII characters, or None when the header is absent."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not all(" " <= ch <= "~" for ch in value):
        msg = f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        loc = ("header", "idempotency-key")
        raise BadRequest(f"Idempotency-Key {msg}", [problem(loc, msg, "idempotency_key")])
    return value


def new_idempotency_key() -> str:
    """A key for a request that came without one: 32 hex digits (a valid ``Idempotency-Key`` itself)."""
    return os.urandom(16).hex()


def idempotent_event_id(api_key: SecretStr, user_id: str, idempotency_key: str) -> str:
    """Deterministic per (API key, user_id, Idempotency-Key); reveals none of them."""
    material = f"{api_key.get_secret_value()}\n{user_id}\n{idempotency_key}".encode()
    return "idem-" + hashlib.sha256(material).hexdigest()[:40]


class IdempotencyKeyMiddleware:
    """For ``POST`` to one of ``paths``: 400 for a malformed ``Idempotency-Key``; else the key (the client's, or
    a new one) goes into ``scope[SCOPE_KEY]`` and into an ``Idempotency-Key`` header of the answer, whoever
    inside sends it. Every other request passes untouched."""

    def __init__(self, app: ASGIApp, *, paths: Collection[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        try:
            key = check_idempotency_key(header_text(scope, HEADER))
        except BadRequest as exc:  # the one answer from here on that cannot carry the key
            await send_json(send, 400, exc.body())
            return
        if key is None:
            key = new_idempotency_key()
        scope[SCOPE_KEY] = key
        echo = (HEADER, key.encode("ascii"))  # printable ASCII: checked or generated

        async def send_with_key(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        await self.app(scope, receive, send_with_key)
