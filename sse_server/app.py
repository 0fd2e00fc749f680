"""``create_app(settings)``: the read/stream API; the lifespan owns the Kafka tails and the period follower.

The boards (``SCOREBOARD_BOARDS_FILE`` checked against ``SCOREBOARD_ACTIONS_FILE``, :mod:`schemas.boards`) are
loaded here, before anything starts: every board key read from a topic and every ``board=`` asked for is one of
them, and an invalid file stops the process at start with the reason (``__main__``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from schemas.runtime.docs import serve_docs
from sse_server.admission import StreamAdmission
from sse_server.board_feed import BoardFeed
from sse_server.board_status import BoardStatusFeed
from sse_server.boards import BoardStore
from sse_server.broadcast import Broadcaster, follow_periods, send_heartbeats, utc_now
from sse_server.eventstream import StreamFastPath, end_streams_on_exit
from sse_server.finals_feed import FinalsFeed
from sse_server.memory import MemoryRelease, glibc_malloc_trim, release_memory
from sse_server.metrics import SseMetrics
from sse_server.personal import PersonalStandings, follow_standings
from sse_server.routes import ReadModel, ReadyWhenAll, router
from sse_server.settings import SseSettings
from sse_server.standings import StandingsIndex
from sse_server.standings_feed import StandingsFeed
from sse_server.standings_reads import StandingsReads
from sse_server.standings_routes import document
from sse_server.standings_routes import routes as lookup_routes

STATIC_DIR = Path(__file__).parent / "static"


def describe_validation_error(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "header", "path", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def validation_error_to_400(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    return JSONResponse({"detail": describe_validation_error(exc)}, status_code=400)


def load_boards(settings: SseSettings) -> Boards:
    """The deployment's boards; ``CatalogError``/``BoardsError`` (both ``ValueError``) say why not."""
    return Boards.load(settings.boards_file, ActionCatalog.load(settings.actions_file))


def create_app(settings: SseSettings, *, tail_kafka: bool = True, boards: Boards | None = None) -> FastAPI:
    """The app (``boards``: default :func:`load_boards`). ``tail_kafka=False`` (HTTP-layer tests) starts no
    consumer: the feeds are filled in-process through ``model.feed.handle(key, value)`` (boards),
    ``model.standings_feed.handle_batch`` (standings) and ``model.board_status.handle_batch`` and count as caught
    up from the start."""
    definitions = boards if boards is not None else load_boards(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        metrics = SseMetrics()
        store = BoardStore(definitions)
        index = StandingsIndex(settings.period_retention, definitions)
        reads = StandingsReads(index)
        personal = PersonalStandings(reads, utc_now)
        broadcaster = Broadcaster(store, metrics, players=lambda board: len(index.boards.get(board) or ()),
                                  personal=personal)
        feed = BoardFeed(settings, store, broadcaster.board_changed, metrics)
        standings_feed = StandingsFeed(settings, index, metrics, personal.changed)
        finals = FinalsFeed(settings, metrics)
        status = BoardStatusFeed(settings, definitions, metrics)
        broadcaster.is_final = finals.is_final
        ready = ReadyWhenAll(metrics, feed.caught_up, standings_feed.caught_up, finals.caught_up, status.caught_up)
        admission = StreamAdmission(settings.sse_max_streams, settings.sse_max_streams_per_client, metrics)
        tasks = [
            asyncio.create_task(ready.watch(), name="sse-ready"),
            asyncio.create_task(follow_periods(broadcaster, index), name="sse-periods"),
            asyncio.create_task(follow_standings(personal, settings.sse_standing_interval_ms / 1000),
                                name="sse-standings"),
            asyncio.create_task(send_heartbeats(broadcaster, settings.sse_heartbeat_s), name="sse-heartbeats"),
            asyncio.create_task(end_streams_on_exit(broadcaster), name="sse-exit"),
            asyncio.create_task(release_memory(MemoryRelease(lambda: admission.open, glibc_malloc_trim())),
                                name="sse-memory"),
        ]
        if tail_kafka:
            tasks.append(asyncio.create_task(feed.run(), name="sse-board-feed"))
            tasks.append(asyncio.create_task(standings_feed.run(), name="sse-standings-feed"))
            tasks.append(asyncio.create_task(finals.run(), name="sse-finals-feed"))
            tasks.append(asyncio.create_task(status.run(), name="sse-board-status-feed"))
        else:
            feed.mark_caught_up()
            standings_feed.mark_caught_up()
            finals.mark_caught_up()
            status.mark_caught_up()
        try:
            yield {"model": ReadModel(settings, feed, broadcaster, metrics, reads, standings_feed, ready, admission,
                                      definitions, status)}
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="Scoreboard read/stream API", version="0.1.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None)  # /docs is served offline (serve_docs)
    app.add_exception_handler(RequestValidationError, validation_error_to_400)
    app.add_middleware(StreamFastPath)  # before CORS: CORS wraps it
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET"],
            allow_headers=["Last-Event-ID", "Cache-Control"], max_age=600,
        )
    app.include_router(router)
    app.router.routes.extend(lookup_routes())  # plain ASGI endpoints (see standings_routes), documented below
    document(app)
    serve_docs(app)
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    return app
