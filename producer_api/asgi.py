"""Raw ASGI helpers for the hot path: header look-ups, a size-bounded body read and a prebuilt JSON answer.

``POST /scores`` and the middlewares' answers (401, 413, 429) are served with these instead of Starlette's Request and
Response objects, which cost more per request than the whole validation (profile in bench 2).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

JSON_TYPE = (b"content-type", b"application/json")


class BodyTooLarge(Exception):
    """The body passed the configured limit while streaming in."""


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


def first_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a (lower-case) header, as ASGI gives it."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of a header, decoded as Starlette does (latin-1)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    declared = first_header(scope, b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > max_bytes


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body, refusing it (``BodyTooLarge``) as soon as more than ``max_bytes`` arrived."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):  # the usual single chunk
        body: bytes = message.get("body", b"")
        if len(body) > max_bytes:
            raise BodyTooLarge
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientGone
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        message = await receive()


async def send_json(send: Send, status: int, body: bytes,
                    extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> int:
    """Answer with a JSON body already encoded; returns the status (for the metrics)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [JSON_TYPE, (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})
    return status
