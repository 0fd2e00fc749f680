"""The standings feed: ``user-standings`` read by a :class:`~sse_server.tail.TopicTail` into the rank index.

Each fetch is one batch for :meth:`StandingsIndex.apply_batch` (one version per batch); a record that does not
decode is logged with its reason and skipped, never the reader's end. Once the tail has caught up, the boards
loaded in bulk are sorted once and the feed calls ``on_change`` after every batch (the personal streams).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings
from sse_server.standings import StandingsIndex
from sse_server.tail import Record, TailFeed, TopicTail

log = logging.getLogger(__name__)


class StandingsFeed(TailFeed):
    def __init__(self, settings: SseSettings, index: StandingsIndex, metrics: SseMetrics,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.topic = settings.topics.user_standings
        self.index = index
        self.metrics = metrics
        self.on_change = on_change
        self.follow(TopicTail(settings, self.topic, self.handle_batch, metrics.standings_lag, self._caught_up,
                              max_records=10_000))

    def _caught_up(self) -> None:
        self.index.seal()
        log.info("sse: caught up with %s (players per board: %s)", self.topic,
                 {b: len(r) for b, r in sorted(self.index.boards.items())})

    def handle_batch(self, records: list[Record]) -> None:
        outcomes: Counter[str] = Counter()
        results = self.index.apply_batch([(key, value) for key, value, _ in records], datetime.now(UTC))
        for (outcome, detail), (key, _, where) in zip(results, records, strict=True):
            outcomes[outcome] += 1
            if outcome == "invalid":
                log.warning("skipping user-standings record %s key=%r: %s", where, (key or b"")[:80], detail)
        for kind, count in outcomes.items():
            self.metrics.standings_records.labels(kind).inc(count)
        if self.caught_up.is_set():
            self.on_change()
