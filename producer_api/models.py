"""Response bodies of the write API, declared so that ``/docs`` shows what each status code really returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ScoreAppliedBody(BaseModel):
    status: Literal["success"]
    new_score: int
    event_id: str


class AcceptedBody(BaseModel):
    status: Literal["accepted"]
    event_id: str


class ErrorBody(BaseModel):
    detail: str


class RefusedBody(BaseModel):
    """422 after the event was logged: the stream worker refused it (``detail`` is its reason)."""

    detail: str
    event_id: str


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BadRequestBody(BaseModel):
    detail: str
    errors: list[Problem]


class ActionsBody(BaseModel):
    actions: dict[str, int]


class StatusBody(BaseModel):
    status: str
    detail: str | None = None


IDEMPOTENCY_KEY_HEADER = {"Idempotency-Key": {
    "description": "The request's Idempotency-Key: the client's, or one generated for it when it sent none. "
                   "After a timeout or a 5xx, retry with it: the event counts once.",
    "schema": {"type": "string"},
}}


def documented(description: str, model: Any, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """One OpenAPI response: ``model`` is a response model or a union of them."""
    return {"description": description, "model": model, **({"headers": headers} if headers else {})}
