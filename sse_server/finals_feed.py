"""The finals feed: which periods are sealed, from ``leaderboard-final`` (``GET /leaderboard/periods``' ``final``).

The worker writes one record per board and period when the period is sealed (its end plus the grace); the read
side only needs the keys. A tombstone unseals nothing in practice (the worker never writes one) but is honoured.
"""

from __future__ import annotations

import logging

from schemas.standings import PeriodFinal
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings
from sse_server.tail import Record, TailFeed, TopicTail

log = logging.getLogger(__name__)


class FinalsFeed(TailFeed):
    def __init__(self, settings: SseSettings, metrics: SseMetrics) -> None:
        self.sealed: set[str] = set()
        self.follow(TopicTail(settings, settings.topics.finals, self.handle_batch, metrics.finals_lag,
                              lambda: log.info("sse: %d sealed periods", len(self.sealed))))

    def handle_batch(self, records: list[Record]) -> None:
        for key, value, where in records:
            try:
                board = (key or b"").decode()
            except UnicodeDecodeError:
                log.warning("skipping leaderboard-final record %s: key is not UTF-8", where)
                continue
            if value is None:
                self.sealed.discard(board)
                continue
            try:
                if PeriodFinal.model_validate_json(value).board_id != board:
                    raise ValueError("board_id does not match the key")
            except ValueError as exc:
                log.warning("skipping leaderboard-final record %s key=%r: %s", where, board[:100], str(exc)[:200])
                continue
            self.sealed.add(board)

    def is_final(self, board: str) -> bool:
        return board in self.sealed
