"""Prometheus metrics of one read/stream app instance, in its own ``CollectorRegistry``.

A registry per app (not the global one) lets tests build several apps in one process.
"""

from __future__ import annotations

import math
import time

from prometheus_client import Counter, Gauge

from schemas.runtime.metrics import service_registry


class SseMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()  # with process_* metrics, no _created series
        self.clients = Gauge(
            "scoreboard_sse_clients", "open SSE streams by window", ["window"], registry=self.registry,
        )
        self.streams_refused = Counter(
            "scoreboard_sse_streams_refused", "streams refused: process_full (503, SCOREBOARD_SSE_MAX_STREAMS) or "
            "client_full (429, SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT)", ["reason"], registry=self.registry,
        )
        for reason in ("process_full", "client_full"):
            self.streams_refused.labels(reason)  # both series from the start, at 0
        self.client_addresses = Gauge(
            "scoreboard_sse_client_addresses", "client addresses holding at least one stream", registry=self.registry,
        )
        self.events_sent = Counter(
            "scoreboard_sse_events_sent", "leaderboard_update events written to SSE streams, by window",
            ["window"], registry=self.registry,
        )
        self.frames_built = Counter(
            "scoreboard_sse_frames_built", "board changes serialized (once each, whatever the client count)",
            ["window"], registry=self.registry,
        )
        self.boards = Gauge(
            "scoreboard_sse_boards", "boards held in memory (one per board id)", registry=self.registry,
        )
        self.records = Counter(
            "scoreboard_sse_records", "leaderboard-updates records read, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "scoreboard_sse_consumer_lag", "records of leaderboard-updates not read yet (all partitions)",
            registry=self.registry,
        )
        self.standings_lag = Gauge(
            "scoreboard_sse_standings_lag", "records of user-standings not read yet (all partitions)",
            registry=self.registry,
        )
        self.finals_lag = Gauge(
            "scoreboard_sse_finals_lag", "records of leaderboard-final not read yet", registry=self.registry,
        )
        self.board_status_lag = Gauge(
            "scoreboard_sse_board_status_lag", "records of board-status not read yet", registry=self.registry,
        )
        self.standings_records = Counter(
            "scoreboard_sse_standings_records", "user-standings records read, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.ready = Gauge(
            "scoreboard_sse_ready",
            "1 once every feed (boards, standings, finals, board status) has caught up with its log",
            registry=self.registry,
        )
        self._last_update: float | None = None
        age = Gauge(
            "scoreboard_sse_last_update_age_seconds",
            "seconds since the last board change was applied (NaN before the first)", registry=self.registry,
        )
        age.set_function(self._age)

    def mark_update(self) -> None:
        self._last_update = time.monotonic()

    def _age(self) -> float:
        return math.nan if self._last_update is None else time.monotonic() - self._last_update
