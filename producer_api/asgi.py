"""Raw ASGI helpers for the hot path, and ``AsgiRoute``: a FastAPI route served by a plain ASGI app.

``POST /scores`` and the middlewares' own answers (401, 400, 413) are served with these instead of Starlette's
Request and Response objects, which cost more per request than the whole validation (profile in bench 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

JSON_TYPE = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before sending the whole body (counted as 499 by ``metrics.MetricsMiddleware``)."""


def first_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a (lower-case) header, as ASGI gives it."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def header_text(scope: Scope, name: bytes) -> str | None:
    """The first value of a header, decoded as Starlette does (latin-1)."""
    value = first_header(scope, name)
    return None if value is None else value.decode("latin-1")


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of a header, decoded as Starlette does (latin-1)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    declared = first_header(scope, b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > max_bytes


async def read_body(receive: Receive) -> bytes:
    """The whole body. Its size is bounded by ``receive`` itself (``limits.BodyLimitMiddleware``)."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):  # the usual single chunk
        return message.get("body", b"")  # type: ignore[no-any-return]
    chunks: list[bytes] = []
    while True:
        if message["type"] == "http.disconnect":
            raise ClientGone
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        message = await receive()


async def send_json(send: Send, status: int, body: bytes,
                    extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer with a JSON body already encoded."""
    await send({"type": "http.response.start", "status": status,
                "headers": [JSON_TYPE, (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})


class AsgiRoute(APIRoute):
    """A FastAPI route whose requests are served by a plain ASGI ``app``.

    To the rest of the app it is an ordinary route: the router dispatches to it behind every middleware, and
    FastAPI generates its OpenAPI operation from this route object, as for any route, from the ``APIRoute``
    arguments (``responses``, ``openapi_extra``, ...) and from the signature of ``declared``, which declares the
    headers and the security the request uses. Only the serving differs: a matched request goes to ``app`` (after
    the method check) instead of through FastAPI's Request/Response and dependency machinery. ``declared`` is a
    declaration: nothing calls it.
    """

    def __init__(self, path: str, app: ASGIApp, *, declared: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, declared, **kwargs)
        self.app = app

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's handling (405 for another method, else ``self.app``), wherever the route sits: on a router
        # included with ``include_router``, ``APIRoute.handle`` would serve a handler FastAPI builds from
        # ``declared`` instead.
        await Route.handle(self, scope, receive, send)
