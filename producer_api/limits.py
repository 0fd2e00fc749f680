"""Request body size limit (413): ``BodyLimitMiddleware`` and its answer.

A declared ``Content-Length`` over the limit is refused before reading; a body without one (chunked) is counted
as it streams, and ``receive`` raises ``BodyTooLarge`` as soon as it passes the limit, so no more than the limit is
ever buffered. ``BodyTooLarge`` is an ``HTTPException``: in a FastAPI route the app's handler answers it (413,
the same JSON body); ``POST /scores`` catches it and answers itself.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api.asgi import declared_too_large, send_json


def too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def too_large_body(limit: int) -> bytes:
    return orjson.dumps({"detail": too_large_message(limit)})


class BodyTooLarge(HTTPException):
    """Raised by a limited ``receive`` once the body passed ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit

    def body(self) -> bytes:
        return too_large_body(self.limit)


def limited_receive(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge(max_bytes)
        return message

    return limited


class BodyLimitMiddleware:
    """413 for an HTTP request that declares a body over ``max_body_bytes``, before reading it; every other
    request gets a ``receive`` that raises ``BodyTooLarge`` once more than that has arrived."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.too_large = too_large_body(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope, self.max_body_bytes):
            await send_json(send, 413, self.too_large)
            return
        await self.app(scope, limited_receive(receive, self.max_body_bytes), send)
