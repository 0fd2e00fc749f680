"""Prometheus metrics of one app, in its own ``CollectorRegistry`` (several apps may share a process).

``MetricsMiddleware`` (outermost) counts every request by route and status code, including the 401/413 answers
of the inner middlewares, times it, and writes a key-free access log line.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("producer_api.access")

UNMATCHED = "unmatched"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "scoreboard_api_requests", "HTTP requests by route, method and status code",
            ["route", "method", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "scoreboard_api_request_duration_seconds", "HTTP request latency by route",
            ["route", "method"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.produce_errors = Counter(
            "scoreboard_api_produce_errors", "score events the broker did not acknowledge (answered 503)",
            registry=self.registry,
        )
        self.pending_replies = Gauge(
            "scoreboard_api_pending_replies", "POST /scores requests waiting for their score-applied record",
            registry=self.registry,
        )
        self.replies = Counter(
            "scoreboard_api_replies", "POST /scores after a produce: applied (200), timeout or async (202)",
            ["outcome"], registry=self.registry,
        )
        self.bad_replies = Counter(
            "scoreboard_api_unreadable_replies", "score-applied records the reply listener could not parse",
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI: status code and latency of every HTTP request; the route label is bounded to known paths."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            path: str = scope["path"]
            route = path if path in self.routes else UNMATCHED
            method: str = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            # key-free by construction: method, path and status only (never headers, never the query string)
            shown = path.encode("unicode_escape").decode("ascii")  # no log injection through the path
            access_log.info("%s %s %d %.1fms", method, shown, status, elapsed * 1000)
