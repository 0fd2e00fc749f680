"""``create_app(settings)``: the FastAPI app, its middlewares, its routes and its lifespan.

Every HTTP request passes, in order: ``MetricsMiddleware`` (count, latency, access log) -> ``ApiKeyMiddleware``
(401 before the body is read) -> ``IdempotencyKeyMiddleware`` (``POST /scores`` only) -> ``BodyLimitMiddleware``
(413) -> FastAPI's router, which dispatches ``POST /scores`` to ``scores.ScoresEndpoint`` (plain ASGI, the hot
path) and the rest to the FastAPI routes of ``routes``. They are ordinary middlewares of the app: one added later
with ``app.add_middleware`` wraps them all, ``POST /scores`` included.

The lifespan starts the reply listener first (positioned at the end of ``score-applied`` and ``score-events-dlq``),
then the producer, so the app only serves once no answer can be missed. ``with_broker=False`` builds the same HTTP
layer with no Kafka clients, for tests of what happens before any Kafka use (auth, limits, validation, catalog).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from producer_api import errors, scores
from producer_api.auth import ApiKeyMiddleware
from producer_api.idempotency import IdempotencyKeyMiddleware
from producer_api.kafka_io import EventLog
from producer_api.limits import BodyLimitMiddleware
from producer_api.metrics import ApiMetrics, MetricsMiddleware
from producer_api.replies import ReplyListener
from producer_api.routes import router
from producer_api.settings import ApiSettings
from producer_api.state import ApiState
from schemas.catalog import ActionCatalog

log = logging.getLogger(__name__)

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")


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

    app = FastAPI(
        title="Scoreboard write API",
        version="1.0.0",
        description="Report user actions; scores are counted exactly once by the stream worker.",
        lifespan=lifespan,
        redoc_url=None,
        # FastAPI's own OpenTelemetry is off: this service ships no OpenTelemetry SDK, so it would record nothing,
        # yet it looks up the configured providers (reading os.environ) on every request: ~5 µs, an eighth of the
        # app's own CPU per POST /scores. The service's metrics are its Prometheus metrics (metrics.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    scores_route = scores.route()
    app.router.routes.insert(0, scores_route)  # first: the router tries the routes in order, this is the hot path
    app.include_router(router)
    docs = {app.docs_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    public = frozenset(PUBLIC_PATHS) | frozenset(p for p in docs if p is not None)
    served = frozenset(getattr(route, "path", "") for route in (scores_route, *router.routes)) | public
    # each add_middleware wraps the ones added before it: a request meets them from the last added to the first
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(IdempotencyKeyMiddleware, paths={scores.PATH})
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, public_paths=public)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=served)
    return app
