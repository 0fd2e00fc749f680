"""HTTP routes of the read/stream API: ``GET /leaderboard``, the SSE stream, health, readiness and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.leaderboard import Window
from sse_server.board_feed import BoardFeed
from sse_server.broadcast import Broadcaster
from sse_server.eventstream import EventStream
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings


@dataclass(frozen=True)
class ReadModel:
    """What the routes need, held in the app's lifespan state under ``model``."""

    settings: SseSettings
    feed: BoardFeed
    broadcaster: Broadcaster
    metrics: SseMetrics


async def get_model(request: Request) -> ReadModel:  # async: sync dependencies run in a thread pool
    model: ReadModel = request.state.model
    return model


Model = Annotated[ReadModel, Depends(get_model)]
WindowParam = Annotated[Window, Query(description="alltime, daily (current UTC day) or weekly (ISO week)")]
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(model: Model) -> Response:
    if model.feed.caught_up.is_set():
        return Response(orjson.dumps({"status": "ready"}), media_type="application/json")
    return Response(orjson.dumps({"status": "catching up"}), status_code=503, media_type="application/json")


@router.get("/metrics")
async def metrics(model: Model) -> Response:
    return Response(generate_latest(model.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/leaderboard")
async def leaderboard(model: Model, window: WindowParam = "alltime", limit: int = 10) -> Response:
    """The window's current board, top ``limit`` rows (1..SCOREBOARD_TOP_K); ``version`` = SSE event id."""
    top_k = model.settings.top_k
    if not 1 <= limit <= top_k:
        raise HTTPException(400, f"limit must be between 1 and {top_k}")
    body = model.broadcaster.frame(window).body
    return Response(orjson.dumps({**body, "data": body["data"][:limit]}), media_type="application/json",
                    headers=NO_STORE)


@router.get("/leaderboard/stream")
async def leaderboard_stream(
    model: Model,
    window: WindowParam = "alltime",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStream:
    """``text/event-stream`` of ``leaderboard_update`` events (``id:`` = version), one per board change.

    Plain requests are served by ``eventstream.StreamFastPath`` before the router (same stream, less memory
    per client); this route answers the rest (400 for a bad window) and documents the endpoint."""
    return EventStream(model.broadcaster, window, last_event_id, model.settings.sse_retry_ms)
