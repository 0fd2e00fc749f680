"""Prometheus metrics of one app, in its own ``CollectorRegistry`` (several apps may share a process).

``middleware.RequestMetrics`` calls ``record`` and ``log_access`` for every request, including the middlewares'
401/413 answers: count by route and status code, latency, and a key-free access log line.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from schemas.runtime.metrics import service_registry

access_log = logging.getLogger("producer_api.access")

UNMATCHED = "unmatched"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()  # with process_* metrics, no _created series
        self.requests = Counter(
            "scoreboard_api_requests", "HTTP requests by route, method and status code",
            ["route", "method", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "scoreboard_api_request_duration_seconds", "HTTP request latency by route",
            ["route", "method"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.rate_limited = Counter(
            "scoreboard_api_rate_limited",
            "POST /scores answered 429: the API key's rate limit (SCOREBOARD_RATE_LIMIT)",
            registry=self.registry,
        )
        self.produce_errors = Counter(
            "scoreboard_api_produce_errors", "score events not written: the producer could not take them (503)",
            registry=self.registry,
        )
        self.produce_unknown = Counter(
            "scoreboard_api_produce_unknown",
            "score events sent but not acknowledged in time, outcome unknown (504; may be counted later)",
            registry=self.registry,
        )
        self.pending_replies = Gauge(
            "scoreboard_api_pending_replies", "POST /scores requests waiting for their score-applied record",
            registry=self.registry,
        )
        self.replies = Counter(
            "scoreboard_api_replies",
            "POST /scores after a produce: applied (200), refused by the worker (422), timeout or async (202)",
            ["outcome"], registry=self.registry,
        )
        self.replied_async = self.replies.labels("async")
        self.replied_applied = self.replies.labels("applied")
        self.replied_refused = self.replies.labels("refused")
        self.replied_timeout = self.replies.labels("timeout")
        self.bad_replies = Counter(
            "scoreboard_api_unreadable_replies", "score-applied records the reply listener could not parse",
            registry=self.registry,
        )
        self.admin_rate_limited = Counter(
            "scoreboard_api_admin_rate_limited",
            "admin routes answered 429: the admin key's rate limit (SCOREBOARD_ADMIN_RATE_LIMIT)",
            registry=self.registry,
        )
        self.admin_actions = Counter(
            "scoreboard_api_admin_actions",
            "admin requests past the key check, by action (ban, unban, revert, ledger) and outcome (accepted, "
            "reverted, already_reverted, not_found, expired, refused, listed, timeout, not_written, unknown)",
            ["action", "outcome"], registry=self.registry,
        )
        self.bad_moderation_results = Counter(
            "scoreboard_api_unreadable_moderation_results",
            "moderation-results records the moderation listener could not parse", registry=self.registry,
        )
        # (route, method, status) -> (requests child, latency child); bounded: routes are a fixed set
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, route: str, method: str, status: int, elapsed: float) -> None:
        """Count and time one request; label children are resolved once per (route, method, status)."""
        children = self._children.get((route, method, status))
        if children is None:
            children = (self.requests.labels(route, method, str(status)), self.latency.labels(route, method))
            self._children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(elapsed)


def log_access(method: str, path: str, status: int, elapsed: float) -> None:
    """Key-free by construction: method, path and status only (never headers, never the query string)."""
    if access_log.isEnabledFor(logging.INFO):
        shown = path.encode("unicode_escape").decode("ascii")  # no log injection through the path
        access_log.info("%s %s %d %.1fms", method, shown, status, elapsed * 1000)
