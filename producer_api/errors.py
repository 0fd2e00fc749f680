"""JSON error bodies and the exception handlers that keep every failure a readable JSON answer.

FastAPI's default 422 for request validation is replaced by 400: in this API 422 means only "unknown action".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class BadRequest(Exception):
    """A 400 with a readable ``detail`` and the list of problems (``loc``, ``msg``, ``type``)."""

    def __init__(self, detail: str, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = [dict(e) for e in errors]


def problem(loc: Iterable[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


def from_pydantic(errors: Iterable[Mapping[str, Any]], prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic error dicts without the echoed input, context or URLs (the client sent the input)."""
    return [problem((*prefix, *e["loc"]), e["msg"], e["type"]) for e in errors]


def summary(what: str, errors: Sequence[Mapping[str, Any]]) -> str:
    """``"invalid request body: user_id: String should have at most 128 characters"``."""
    parts = []
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"][1:]) or ".".join(str(p) for p in e["loc"])  # ("body",): body
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    return f"{what}: {'; '.join(parts)}" if parts else what


async def _bad_request(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, BadRequest):  # registered for this class only
        raise exc
    return json_response(400, {"detail": exc.detail, "errors": exc.errors})


async def _request_validation(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # registered for this class only
        raise exc
    errors = from_pydantic(exc.errors())
    return json_response(400, {"detail": summary("invalid request", errors), "errors": errors})


async def _http_exception(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # registered for this class only
        raise exc
    return json_response(exc.status_code, {"detail": exc.detail}, exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
