"""Response bodies of the write API, declared so that ``/docs`` shows what each status code really returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ScoreAppliedBody(BaseModel):
    status: Literal["success"]
    new_score: int


class AcceptedBody(BaseModel):
    status: Literal["accepted"]
    event_id: str


class ErrorBody(BaseModel):
    detail: str


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


def documented(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "model": model}
