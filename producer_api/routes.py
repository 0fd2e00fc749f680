"""The FastAPI routes: ``GET /actions``, health, readiness and metrics (``POST /scores`` is ``scores``, an ASGI
app in a plain route, documented by ``scores_doc``).
"""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from producer_api.auth import ApiKey
from producer_api.errors import json_response
from producer_api.models import ActionsBody, ErrorBody, StatusBody, documented
from producer_api.state import State

router = APIRouter()

@router.get("/actions", summary="The action catalog: action_id -> points, or {min, max} for a value action",
            response_model=ActionsBody,
            responses={401: documented("Missing or invalid `X-API-KEY`", ErrorBody)})
async def get_actions(_: ApiKey, state: State) -> ActionsBody:
    return ActionsBody.model_validate({"actions": state.catalog.as_dict()})


@router.get("/healthz", summary="The process is up and can write (a producer could be started)",
            response_model=StatusBody, response_model_exclude_none=True,
            responses={503: documented("The event log producer cannot be started: restart the process", StatusBody)})
async def healthz(state: State) -> Response:
    if state.event_log is not None and state.event_log.failed:
        return json_response(503, {"status": "failing", "detail": "no event log producer could be started"})
    return json_response(200, {"status": "ok"})


@router.get("/readyz", summary="Producer and listeners started, and the broker answers",
            response_model=StatusBody, responses={503: documented("Not ready", StatusBody)})
async def readyz(state: State) -> Response:
    if state.event_log is None or state.replies is None:
        return json_response(503, {"status": "unavailable", "detail": "no broker configured"})
    if not state.replies.running:
        return json_response(503, {"status": "unavailable", "detail": "reply listener not running"})
    if state.moderation is not None and not state.moderation.running:
        return json_response(503, {"status": "unavailable", "detail": "moderation results listener not running"})
    if not await state.event_log.broker_answers():
        return json_response(503, {"status": "unavailable", "detail": "broker not answering"})
    return json_response(200, {"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
