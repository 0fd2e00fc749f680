"""HTTP routes of the read/stream API: ``GET /leaderboard``, the SSE stream, ``GET /leaderboards``, health,
readiness, metrics and the live page's configuration. Every read takes ``board=`` (default ``global``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Literal
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.boards import GLOBAL, Boards
from schemas.leaderboard import Window
from schemas.standings import BoardBody, PeriodsBody, RowsBody
from sse_server.admission import StreamAdmission
from sse_server.board_feed import BoardFeed
from sse_server.board_status import BoardStatusFeed, LeaderboardsBody, leaderboards
from sse_server.broadcast import Broadcaster
from sse_server.eventstream import EventStream
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings
from sse_server.standings_feed import StandingsFeed
from sse_server.standings_reads import BadParameter, StandingsReads, check_user_id, is_current, resolve
from sse_server.standings_routes import BOARD_HELP, PERIOD_HELP, WINDOW_HELP, kept


@dataclass(frozen=True)
class ReadModel:
    """What the routes need, held in the app's lifespan state under ``model``."""

    settings: SseSettings
    feed: BoardFeed
    broadcaster: Broadcaster
    metrics: SseMetrics
    standings: StandingsReads
    standings_feed: StandingsFeed
    ready: ReadyWhenAll
    admission: StreamAdmission
    boards: Boards
    board_status: BoardStatusFeed


class ReadyWhenAll:
    """``scoreboard_sse_ready`` is 1 once every feed has caught up with its log (``/readyz`` says the same)."""

    def __init__(self, metrics: SseMetrics, *events: asyncio.Event) -> None:
        self.metrics = metrics
        self.events = events

    def is_set(self) -> bool:
        return all(event.is_set() for event in self.events)

    async def watch(self) -> None:
        for event in self.events:
            await event.wait()
        self.metrics.ready.set(1)


async def get_model(request: Request) -> ReadModel:  # async: sync dependencies run in a thread pool
    model: ReadModel = request.state.model
    return model


Model = Annotated[ReadModel, Depends(get_model)]
WindowParam = Annotated[Window | None, Query(description=WINDOW_HELP)]
PeriodParam = Annotated[str | None, Query(description=PERIOD_HELP)]
BoardParam = Annotated[str, Query(description=BOARD_HELP)]
TAGS: list[str | Enum] = ["leaderboard"]
NO_STORE = {"Cache-Control": "no-store"}
PAGE_MAX = 100  # the largest page anywhere in the board
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(model: Model) -> Response:
    if model.ready.is_set():
        return Response(orjson.dumps({"status": "ready"}), media_type="application/json")
    return Response(orjson.dumps({"status": "catching up"}), status_code=503, media_type="application/json")


@router.get("/metrics")
async def metrics(model: Model) -> Response:
    return Response(generate_latest(model.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/page-config.json", include_in_schema=False)
async def page_config(model: Model) -> Response:
    """The live page's title and accent colour (``SCOREBOARD_PAGE_TITLE``, ``SCOREBOARD_PAGE_ACCENT``), as JSON data:
    the page sets them with ``textContent`` and a CSS custom property, never as markup."""
    settings = model.settings
    return Response(orjson.dumps({"title": settings.page_title, "accent": settings.page_accent}),
                    media_type="application/json", headers={"Cache-Control": "no-cache"})


@router.get("/leaderboard", response_model=BoardBody | RowsBody, tags=TAGS,
            responses={400: {"description": "a bad parameter (the message names it)"}})
async def leaderboard(
    model: Model, window: WindowParam = None,
    limit: Annotated[int | None, Query(description="rows (default 10, or SCOREBOARD_TOP_K when smaller)")] = None,
    offset: Annotated[int | None, Query(ge=0, description="0-based rank offset: a page anywhere in the board, "
                                                          "from the rank index")] = None,
    board: BoardParam = GLOBAL,
    period: PeriodParam = None,
) -> Response:
    """Without ``offset``: the window's board, top ``limit`` rows (1..SCOREBOARD_TOP_K), ``version`` = the SSE
    event id. With ``offset``: rows ``offset+1 .. offset+limit`` of the whole board (``limit`` 1..100), from the
    rank index, ``version`` = the index's; rows beyond the end are simply absent. ``period``: a past period still
    kept (``404`` when unknown or past ``SCOREBOARD_PERIOD_RETENTION_DAYS``; ``GET /leaderboard/periods`` lists
    them); default the current one."""
    top_k = model.settings.top_k
    most = top_k if offset is None else PAGE_MAX
    if limit is None:
        limit = min(10, most)
    if not 1 <= limit <= most:
        raise HTTPException(400, f"limit: must be between 1 and {most}")
    now = datetime.now(UTC)
    try:
        scope = resolve(window, period, board, now, model.boards)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None
    unknown = HTTPException(404, f"period {period!r} of {scope.window} is unknown or no longer kept")
    if not kept(model, scope, now):
        raise unknown
    if offset is not None:
        return Response(orjson.dumps(model.standings.page(scope, offset, limit, now)),
                        media_type="application/json", headers=NO_STORE)
    current = is_current(scope, now, model.boards)
    body = model.broadcaster.frame(scope.window, scope.board).body if current else \
        model.broadcaster.body_of(scope.board_id)
    if body is None:  # ranks of that period are kept, its board is not (removed from leaderboard-updates)
        raise unknown
    players = model.broadcaster.players(scope.board_id)  # now: a player who joined below the top counts already
    return Response(orjson.dumps({**body, "data": body["data"][:limit], "total_players": players}),
                    media_type="application/json", headers=NO_STORE)


@router.get("/leaderboard/periods", response_model=PeriodsBody, tags=TAGS,
            responses={400: {"description": "a bad parameter (the message names it)"}})
async def periods(
    model: Model,
    window: Annotated[Literal["daily", "weekly", "monthly"] | None,
                      Query(description="daily, weekly or monthly: one the board has (default: its first of "
                                        "them; daily on global)")] = None,
    board: BoardParam = GLOBAL,
) -> Response:
    """The window's periods still kept, newest first (the current one included): when each began and ends (in
    the board's zone), and whether its final standings are sealed (``leaderboard-final``)."""
    try:
        if window is None:  # the board's first windowed window (an unknown board is refused by resolve)
            found = model.boards.by_name.get(board)
            window = next((w for w in found.windows if w != "alltime"), "daily") if found else "daily"
        scope = resolve(window, None, board, datetime.now(UTC), model.boards)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None
    return Response(orjson.dumps({"data": model.broadcaster.periods(scope.window, scope.board)}),
                    media_type="application/json", headers=NO_STORE)


@router.get("/leaderboards", response_model=LeaderboardsBody, tags=TAGS)
async def boards(model: Model) -> Response:
    """Every board of the deployment (``SCOREBOARD_BOARDS_FILE``; ``global`` first): its definition, its windows
    with their current periods (in the board's zone), and its fill from the audit log: ``live`` once the worker
    follows live events on every source partition, else ``backfilling`` with ``progress`` (0..1)."""
    return Response(orjson.dumps(leaderboards(model.boards, model.board_status, datetime.now(UTC))),
                    media_type="application/json", headers=NO_STORE)


@router.get("/leaderboard/stream", tags=TAGS,
            responses={200: {"description": "an endless text/event-stream: `leaderboard_update` events (and "
                                            "`standing` ones with `user_id`), `: ping` heartbeats",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                       400: {"description": "a bad parameter (the message names it)"},
                       429: {"description": "this client address holds SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT "
                                            "streams already: close one, or retry after `Retry-After` seconds "
                                            "(with jitter)", "headers": RETRY_AFTER},
                       503: {"description": "this server holds SCOREBOARD_SSE_MAX_STREAMS streams already: retry "
                                            "after `Retry-After` seconds (with jitter)", "headers": RETRY_AFTER}})
async def leaderboard_stream(
    model: Model, request: Request,
    window: WindowParam = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    user_id: Annotated[str | None, Query(description="also send this player's `standing` event (the "
                                                     "GET /leaderboard/users/{user_id} body) at connect and "
                                                     "whenever their rank or score changes")] = None,
    board: BoardParam = GLOBAL,
    period: Annotated[str | None, Query(description="not accepted: a stream follows the current period")] = None,
) -> EventStream:
    """``text/event-stream`` of ``leaderboard_update`` events (``id:`` = version), one per board change; with
    ``user_id``, also ``standing`` events (no ``id:``). A past period does not change: read it with
    ``GET /leaderboard?period=``.

    Requests with only ``board``, ``window``, ``user_id`` and ``Last-Event-ID`` are served by a lean ASGI path
    before the router (the same stream, less memory per client); this route answers the rest (``400`` for a bad
    window, user_id, board or any period) and documents the endpoint."""
    if period is not None:
        raise HTTPException(400, "period: a stream follows the current period; read a past one with "
                                 "GET /leaderboard?period=")
    try:
        parse_qsl(request.scope["query_string"].decode("latin-1"), errors="strict")
    except UnicodeDecodeError:
        raise HTTPException(400, "user_id: the query is not UTF-8") from None
    try:
        scope = resolve(window, None, board, datetime.now(UTC), model.boards)
    except BadParameter as exc:
        raise HTTPException(400, str(exc)) from None
    if user_id is not None:
        try:
            check_user_id(user_id)
        except BadParameter as exc:
            raise HTTPException(400, str(exc)) from None
    return EventStream(model.broadcaster, model.admission, scope.window, last_event_id, model.settings.sse_retry_ms,
                       user_id, scope.board)
