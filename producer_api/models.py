"""Response bodies of the write API, declared so that ``/docs`` shows what each status code really returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_ID = "idem-3f1c9a27d5e84b0c6a1f2e9d7b5c3a1e0f9d8c7b"


class ScoreAppliedBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "new_score": 1250, "event_id": EVENT_ID}]})

    status: Literal["success"]
    new_score: int
    event_id: str


class AcceptedBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "accepted", "event_id": EVENT_ID}]})

    status: Literal["accepted"]
    event_id: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "unknown action_id 'fly_to_moon'"}]})

    detail: str


class RefusedBody(BaseModel):
    """422 after the event was logged: the stream worker refused it (``detail`` is its reason)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": "idempotency key reused for user 'u-0042' with another action_id ('win_match' first, now "
                   "'find_secret'); use a new Idempotency-Key", "event_id": EVENT_ID}]})

    detail: str
    event_id: str


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BadRequestBody(BaseModel):
    detail: str
    errors: list[Problem]


class ValueRangeBody(BaseModel):
    """A value action's catalog entry: its events carry a ``value`` in ``min..max`` (both included)."""

    min: int
    max: int


class ActionsBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"actions": {
        "win_match": 25, "find_secret": 100, "lap_time_ms": {"min": 1, "max": 3600000}}}]})

    actions: dict[str, int | ValueRangeBody] = Field(description=(
        "action_id -> its points (a points action), or the range of the `value` its events must carry (a value "
        "action, which counts only on boards with `value: true`)"))


class NotWrittenBody(BaseModel):
    """503 of ``POST /scores``: nothing was written (``event_id`` when the request got as far as being given one)."""

    status: Literal["not_written"]
    detail: str
    event_id: str | None = None


class UnknownOutcomeBody(BaseModel):
    """504 of ``POST /scores``: the event was sent but not acknowledged; it may be counted, now or later."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "unknown", "event_id": EVENT_ID, "detail": "the event was sent to the event log (Kafka) but "
         "not acknowledged in time: it may or may not be counted; retry with the same Idempotency-Key (it counts "
         "once)"}]})

    status: Literal["unknown"]
    event_id: str
    detail: str


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
