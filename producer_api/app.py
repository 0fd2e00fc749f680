"""``create_app(settings)``: the FastAPI app behind its front door (metrics -> API key -> body size ->
POST /scores, see ``front``) and its lifespan.

The lifespan starts the reply listener first (positioned at the end of ``score-applied`` and ``score-events-dlq``),
then the producer, so the app only serves once no answer can be missed. ``with_broker=False`` builds the same HTTP
layer with no Kafka clients, for tests of what happens before any Kafka use (auth, limits, validation, catalog).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from producer_api import errors
from producer_api.auth import ApiKeys, EventIds
from producer_api.front import FrontDoor
from producer_api.kafka_io import EventLog
from producer_api.metrics import ApiMetrics
from producer_api.rate_limit import KeyRateLimit
from producer_api.replies import ReplyListener
from producer_api.routes import router
from producer_api.settings import ApiSettings
from producer_api.state import ApiState
from schemas.catalog import ActionCatalog
from schemas.runtime.docs import ASSETS_URL, DOCS_URL, serve_docs

log = logging.getLogger(__name__)

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")


class WriteApi(FastAPI):
    """FastAPI with the front door *outside* it: every request enters ``FrontDoor`` first, and ``POST /scores``
    never enters FastAPI's own per-request layers (its OpenTelemetry check, which reads the environment on
    every request, the error middleware, routing, dependency resolution). Other requests continue into FastAPI.
    """

    front: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)


def create_app(
    settings: ApiSettings, *, catalog: ActionCatalog | None = None, with_broker: bool = True
) -> FastAPI:
    """Build the app; the catalog is loaded now, so a bad file fails here (``CatalogError``), not later."""
    catalog = catalog if catalog is not None else ActionCatalog.load(settings.actions_file)
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, ApiState]]:
        if not settings.api_keys:
            log.warning("no SCOREBOARD_API_KEYS (dev mode): every POST /scores and GET /actions will be 401")
        if not with_broker:
            yield {"api": ApiState(settings, catalog, metrics, None, None)}
            return
        async with AsyncExitStack() as stack:
            replies = ReplyListener(settings, metrics)
            stack.push_async_callback(replies.stop)
            await replies.start()
            event_log = EventLog(settings)
            stack.push_async_callback(event_log.stop)
            await event_log.start()
            log.info("producer_api: ready (%d actions, %d API keys, topic %s)",
                     len(catalog), len(settings.api_keys), event_log.topic)
            yield {"api": ApiState(settings, catalog, metrics, event_log, replies)}

    app = WriteApi(
        title="Scoreboard write API",
        version="1.0.0",
        description="Report user actions; scores are counted exactly once by the stream worker.",
        lifespan=lifespan,
        docs_url=None,  # served offline by serve_docs
        redoc_url=None,
    )
    errors.install(app)
    app.include_router(router)
    serve_docs(app)
    docs = {DOCS_URL, app.openapi_url}
    public = frozenset(PUBLIC_PATHS) | frozenset(p for p in docs if p is not None)
    known = frozenset(getattr(route, "path", "") for route in router.routes) | public
    app.front = FrontDoor(partial(FastAPI.__call__, app), metrics=metrics, keys=ApiKeys(settings.api_keys),
                          public_paths=public, routes=known, max_body_bytes=settings.max_body_bytes,
                          public_prefixes=(f"{ASSETS_URL}/",), rate_limit=KeyRateLimit(settings.rate_limit),
                          event_ids=EventIds(settings.event_ids_secret))
    return app
