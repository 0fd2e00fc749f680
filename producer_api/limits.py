"""Request body size limit (413): the answer, and the counting ``receive`` ``middleware.BodyLimit`` gives routes.

A declared ``Content-Length`` over the limit is refused by ``middleware.BodyLimit`` before reading; a body
without one (chunked) is counted as it streams (``limited_receive``) and refused as soon as it passes the limit,
so no more than the limit is ever buffered. ``POST /scores`` reads its body with ``asgi.read_body``, which
applies the same rule itself.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive


def too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def too_large_body(limit: int) -> bytes:
    return orjson.dumps({"detail": too_large_message(limit)})


class BodyTooLarge(HTTPException):
    """Raised from ``limited_receive`` inside a FastAPI route: its HTTPException handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


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
