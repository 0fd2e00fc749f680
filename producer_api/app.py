"""``create_app(settings)``: the FastAPI app — ``POST /scores`` (an ASGI app in a plain route, ``scores``), the
FastAPI routes (``routes``, and the admin routes of ``moderation``), the middlewares (``middleware``: metrics ->
API key or admin key -> rate limit -> Idempotency-Key -> body size) — and its lifespan.

The lifespan starts the listeners first (the reply listener positioned at the end of ``score-applied`` and
``score-events-dlq``, the moderation listener at the end of ``moderation-results``), then the producer, so the
app only serves once no answer can be missed. ``with_broker=False`` builds the same HTTP
layer with no Kafka clients, for tests of what happens before any Kafka use (auth, limits, validation, catalog).

The boards (``SCOREBOARD_BOARDS_FILE``) are loaded with the catalog, before anything else: the write API needs them
for the admin ledger (``board=``, periods in the board's zone), and a file every other service would refuse must
stop this one too, with the same sentence, rather than let events in that no board can take.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from producer_api import errors, moderation
from producer_api.auth import ApiKeys, EventIds
from producer_api.kafka_io import EventLog
from producer_api.metrics import ApiMetrics
from producer_api.middleware import ApiKeyCheck, BodyLimit, IdempotencyKeys, RateLimit, RequestMetrics, Templates
from producer_api.moderation_results import ModerationResults
from producer_api.rate_limit import KeyRateLimit
from producer_api.replies import ReplyListener
from producer_api.routes import router
from producer_api.scores import ScoresEndpoint
from producer_api.scores_doc import document as document_scores
from producer_api.settings import ApiSettings
from producer_api.state import ApiState
from schemas.boards import Boards
from schemas.catalog import ActionCatalog
from schemas.runtime.docs import ASSETS_URL, DOCS_URL, serve_docs

log = logging.getLogger(__name__)

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")


def create_app(
    settings: ApiSettings, *, catalog: ActionCatalog | None = None, boards: Boards | None = None,
    with_broker: bool = True,
) -> FastAPI:
    """Build the app; the catalog and the boards are loaded now, so a bad file fails here (``CatalogError``,
    ``BoardsError``), not later."""
    catalog = catalog if catalog is not None else ActionCatalog.load(settings.actions_file)
    boards = boards if boards is not None else Boards.load(settings.boards_file, catalog)
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, ApiState]]:
        if not settings.api_keys:
            log.warning("no SCOREBOARD_API_KEYS (dev mode): every POST /scores and GET /actions will be 401")
        if not settings.admin_keys:
            log.warning("no SCOREBOARD_ADMIN_KEYS: %s", "the admin routes take the fixed dev admin key (id dev-admin)"
                        if settings.env == "dev" else "the admin routes (/admin/...) answer 404")
        if not with_broker:
            yield {"api": ApiState(settings, catalog, boards, metrics, None, None)}
            return
        async with AsyncExitStack() as stack:
            replies = ReplyListener(settings, metrics)
            stack.push_async_callback(replies.stop)
            await replies.start()
            moderation_results = ModerationResults(settings, metrics)
            stack.push_async_callback(moderation_results.stop)
            await moderation_results.start()
            event_log = EventLog(settings)
            stack.push_async_callback(event_log.stop)
            await event_log.start()
            log.info("producer_api: ready (%d actions, %d boards, %d API keys, %d admin keys, topic %s)",
                     len(catalog), len(boards), len(settings.api_keys), len(settings.admin_keys), event_log.topic)
            yield {"api": ApiState(settings, catalog, boards, metrics, event_log, replies, moderation_results)}

    app = FastAPI(
        title="Scoreboard write API",
        version="1.0.0",
        description="Report user actions; scores are counted exactly once by the stream worker.",
        lifespan=lifespan,
        docs_url=None,  # served offline by serve_docs
        redoc_url=None,
        # FastAPI's native OpenTelemetry: off (the service exports Prometheus metrics); when on, it reads the
        # environment three times per request (a tenth of POST /scores' CPU in-process)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    app.router.routes.insert(0, Route("/scores", ScoresEndpoint(settings.max_body_bytes,
                                                             EventIds(settings.event_ids_secret)), methods=["POST"]))
    app.include_router(router)
    app.include_router(moderation.router)
    document_scores(app)
    moderation.document(app)
    serve_docs(app)
    docs = {DOCS_URL, app.openapi_url}
    public = frozenset(PUBLIC_PATHS) | frozenset(p for p in docs if p is not None)
    known = frozenset(getattr(route, "path", "") for route in router.routes) | {"/scores"} | public
    admin: Templates = tuple((route.path_regex, route.path) for route in moderation.router.routes
                             if isinstance(route, Route))
    # add_middleware puts each one outside those added before: added innermost first
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimit, limit=KeyRateLimit(settings.rate_limit), metrics=metrics,
                       admin_limit=KeyRateLimit(settings.admin_rate_limit))
    app.add_middleware(IdempotencyKeys)  # outside the rate limit: a 429 carries the key to retry with
    app.add_middleware(ApiKeyCheck, keys=ApiKeys(settings.api_keys), routes=known, public_paths=public,
                       public_prefixes=(f"{ASSETS_URL}/",), admin_keys=ApiKeys(settings.effective_admin_keys),
                       admin_routes=admin)
    app.add_middleware(RequestMetrics, metrics=metrics, routes=known, templates=admin)
    return app
