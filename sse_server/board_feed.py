"""The boards feed: ``leaderboard-updates`` read by a :class:`~sse_server.tail.TopicTail` into the :class:`BoardStore`.

Records go through :meth:`BoardFeed.handle`; a changed board is handed to the broadcaster. An unusable record is
logged with its reason and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sse_server.boards import ApplyResult, BoardStore
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings
from sse_server.tail import Record, TailFeed, TopicTail

log = logging.getLogger(__name__)


class BoardFeed(TailFeed):
    def __init__(self, settings: SseSettings, store: BoardStore, on_change: Callable[[str], None],
                 metrics: SseMetrics) -> None:
        self.settings = settings
        self.topic = settings.topics.leaderboard_updates
        self.store = store
        self.on_change = on_change
        self.metrics = metrics
        self.follow(TopicTail(settings, self.topic, self.handle_batch, metrics.consumer_lag, self._caught_up))

    def _caught_up(self) -> None:
        log.info("sse: caught up with %s (%d boards)", self.topic, len(self.store.boards))

    def handle_batch(self, records: list[Record]) -> None:
        for key, value, where in records:
            self.handle(key, value, where)

    def handle(self, key: bytes | None, value: bytes | None, where: str = "") -> ApplyResult:
        """Apply one record; an unusable one is logged with its reason and skipped."""
        result = self.store.apply(key, value)
        self.metrics.records.labels(result.outcome).inc()
        if result.outcome == "invalid":
            log.warning("skipping leaderboard record %s key=%r: %s", where, key, result.reason)
        elif result.outcome == "stale":
            log.debug("ignoring leaderboard record %s key=%r: %s", where, key, result.reason)
        else:
            self.metrics.boards.set(len(self.store.boards))
            self.metrics.mark_update()
            if result.board is not None:
                self.on_change(result.board)
        return result
