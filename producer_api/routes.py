"""The HTTP endpoints: ``POST /scores`` (declared here for OpenAPI, served by ``scores``), ``GET /actions``,
health, readiness and metrics.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from producer_api.auth import ApiKey
from producer_api.errors import json_response
from producer_api.models import (
    IDEMPOTENCY_KEY_HEADER,
    AcceptedBody,
    ActionsBody,
    BadRequestBody,
    ErrorBody,
    NotWrittenBody,
    RefusedBody,
    ScoreAppliedBody,
    StatusBody,
    UnknownOutcomeBody,
    documented,
)
from producer_api.state import State
from schemas.events import ScoreRequest

router = APIRouter()

_request_schema = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
RETRY_WITH = IDEMPOTENCY_KEY_HEADER
RETRY_LATER = {**IDEMPOTENCY_KEY_HEADER,
               "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


@router.post(
    "/scores",
    summary="Report an action; the user's score grows by the action's points",
    response_model=None,
    openapi_extra={"requestBody": {"required": True,
                                   "content": {"application/json": {"schema": _request_schema}}}},
    responses={
        200: documented("Applied: the user's new all-time total, and the event id", ScoreAppliedBody, RETRY_WITH),
        202: documented("Accepted and durably logged; not applied within the wait bound, or `Prefer: "
                        "respond-async` was sent", AcceptedBody, RETRY_WITH),
        400: documented("Malformed JSON, wrong content type, or an invalid field or header (the answer carries "
                        "`Idempotency-Key` unless that header itself is the problem)", BadRequestBody, RETRY_WITH),
        401: documented("Missing or invalid `X-API-KEY` (checked before the body is read)", ErrorBody),
        413: documented("Request body larger than SCOREBOARD_MAX_BODY_BYTES", ErrorBody, RETRY_WITH),
        429: documented("The API key's rate limit (SCOREBOARD_RATE_LIMIT) is exceeded: nothing was read or logged; "
                        "wait `Retry-After` seconds", ErrorBody,
                        {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}),
        422: documented(
            "Not applied, for one of two reasons. Without `event_id`: the `action_id` is not in the action "
            "catalog, and nothing was logged. With `event_id`: the event was logged but the stream worker "
            "refused it, and `detail` is its reason, e.g. the Idempotency-Key was already used for this user "
            "with another `action_id` (\"idempotency key reused ...\"), or the user's total would leave the "
            "signed 64-bit range. Either way the score did not change.",
            ErrorBody | RefusedBody, RETRY_WITH),
        503: documented("Nothing was written: the event log (Kafka) is unavailable. Retry after `Retry-After` "
                        "seconds (with this answer's `Idempotency-Key`)", NotWrittenBody, RETRY_LATER),
        504: documented("Outcome unknown: the event was sent to the event log but not acknowledged in time; it "
                        "may be counted now or later. Retry with this answer's `Idempotency-Key` (it counts "
                        "once) until a 200, 202 or 422 tells the outcome", UnknownOutcomeBody, RETRY_LATER),
    },
)
async def post_score(
    _: ApiKey,
    idempotency_key: Annotated[str | None, Header(
        description="1-255 printable ASCII characters. Scoped by (API key id, `user_id`, key): within 24 h the "
                    "same key for the same user applies once and repeats answer as the first did; the same key "
                    "for another `action_id` is refused (422). Without it one is generated; every answer "
                    "carries the key in its `Idempotency-Key` header, to retry with after a timeout or a 5xx"
    )] = None,
    prefer: Annotated[str | None, Header(
        description="`respond-async`: answer 202 as soon as the event is durably logged")] = None,
) -> Response:
    # Documents the operation (no docstring: it would become the OpenAPI description); requests never get
    # here: ``scores.ScoresEndpoint`` serves them in the front door.
    raise RuntimeError("POST /scores is served by the front door, which is not installed in front of this route")


@router.get("/actions", summary="The action catalog: action_id -> points", response_model=ActionsBody,
            responses={401: documented("Missing or invalid `X-API-KEY`", ErrorBody)})
async def get_actions(_: ApiKey, state: State) -> ActionsBody:
    return ActionsBody(actions=state.catalog.as_dict())


@router.get("/healthz", summary="The process is up and can write (a producer could be started)",
            response_model=StatusBody, response_model_exclude_none=True,
            responses={503: documented("The event log producer cannot be started: restart the process", StatusBody)})
async def healthz(state: State) -> Response:
    if state.event_log is not None and state.event_log.failed:
        return json_response(503, {"status": "failing", "detail": "no event log producer could be started"})
    return json_response(200, {"status": "ok"})


@router.get("/readyz", summary="Producer and reply listener started, and the broker answers",
            response_model=StatusBody, responses={503: documented("Not ready", StatusBody)})
async def readyz(state: State) -> Response:
    if state.event_log is None or state.replies is None:
        return json_response(503, {"status": "unavailable", "detail": "no broker configured"})
    if not state.replies.running:
        return json_response(503, {"status": "unavailable", "detail": "reply listener not running"})
    if not await state.event_log.broker_answers():
        return json_response(503, {"status": "unavailable", "detail": "broker not answering"})
    return json_response(200, {"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
