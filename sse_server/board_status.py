"""``GET /leaderboards``: every board's definition, its windows' current periods, and how far it is filled.

A board added to the boards file later is filled by the worker from the whole ``score-events`` audit log, per
source partition, while live events keep flowing; the worker says how far on the compacted topic
``board-status`` (key ``<board>|<partition>``, value :class:`schemas.boards.BoardProgress`). The read side tails
that topic like its other feeds (one group-less consumer per replica, :class:`~sse_server.tail.TopicTail`) and
keeps the latest record per board and partition. A board is ``live`` once every source partition
(``SCOREBOARD_PARTITIONS``) has a live record *for the current definition* (its fingerprint: a changed definition
is a new board, filled again); until then it is ``backfilling`` with ``progress`` = the offsets applied over the
offsets to reach, summed over the partitions (a partition with no record yet counts as nothing done, so a board
nobody has reported on is at 0). Until it is live, ``progress`` stays below 1.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.boards import Aggregation, Board, BoardProgress, Boards, Order
from schemas.leaderboard import Window
from sse_server.metrics import SseMetrics
from sse_server.settings import SseSettings
from sse_server.standings_reads import iso, period_fields
from sse_server.tail import Record, TailFeed, TopicTail

log = logging.getLogger(__name__)
ALMOST = 0.9999  # the most a board not yet live shows


class BoardDefinitionView(BaseModel):
    """A board's definition as the boards file gives it (``order`` resolved; ``actions`` null: every action)."""

    model_config = ConfigDict(frozen=True)

    actions: list[str] | None
    aggregation: Aggregation
    order: Order
    windows: list[Window]
    timezone: str = Field(description="IANA zone of the board's days, weeks and months")
    value: bool = Field(description="the event's value is the score, instead of the catalog points")


class WindowPeriod(BaseModel):
    model_config = ConfigDict(frozen=True)

    window: Window
    period: str | None = Field(description="the current period (null for alltime)")
    period_start: datetime | None
    period_end: datetime | None = Field(description="the next reset")


class PartitionFill(BaseModel):
    """One source partition's fill; ``at``/``end`` null while the worker has not reported on it (for this
    definition)."""

    model_config = ConfigDict(frozen=True)

    partition: int
    live: bool
    at: int | None = Field(description="the next score-events offset the fill applies")
    end: int | None = Field(description="the offset the fill must reach")


class BoardInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    board: str
    definition: BoardDefinitionView
    fingerprint: str = Field(description="of the definition: a changed definition is a new board, filled again")
    windows: list[WindowPeriod]
    status: Literal["live", "backfilling"]
    progress: float = Field(ge=0, le=1, description="offsets applied / offsets to reach, over every partition")
    partitions: list[PartitionFill]


class LeaderboardsBody(BaseModel):
    """``GET /leaderboards``: every board of the deployment (``global`` first)."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [{"data": [{
        "board": "fastest-lap", "definition": {"actions": ["lap_time"], "aggregation": "min", "order": "asc",
                                               "windows": ["alltime", "weekly"], "timezone": "Europe/Berlin",
                                               "value": True},
        "fingerprint": "3f9a0c1d2e4b5a69",
        "windows": [{"window": "alltime", "period": None, "period_start": None, "period_end": None},
                    {"window": "weekly", "period": "2026-W48", "period_start": "2026-11-22T23:00:00Z",
                     "period_end": "2026-11-29T23:00:00Z"}],
        "status": "backfilling", "progress": 0.42,
        "partitions": [{"partition": 0, "live": True, "at": 1200, "end": 1200},
                       {"partition": 1, "live": False, "at": 300, "end": 1700}]}],
        "timestamp": "2026-11-26T10:00:00Z"}]})

    data: list[BoardInfo]
    timestamp: datetime


def parse_key(key: bytes | None) -> tuple[str, int]:
    """``<board>|<partition>``; ValueError otherwise."""
    name, sep, partition = (key or b"").decode().rpartition("|")
    if not sep or not name or not (partition.isascii() and partition.isdigit()):
        raise ValueError(f"key {(key or b'')[:100]!r} is not <board>|<partition>")
    return name, int(partition)


class BoardStatusFeed(TailFeed):
    """The latest :class:`BoardProgress` per (board, source partition), from ``board-status``."""

    def __init__(self, settings: SseSettings, boards: Boards, metrics: SseMetrics) -> None:
        self.boards = boards
        self.partitions = settings.partitions
        self.progress: dict[tuple[str, int], BoardProgress] = {}
        self.follow(TopicTail(settings, settings.topics.board_status, self.handle_batch, metrics.board_status_lag,
                              lambda: log.info("sse: board fill: %s", {b.name: self.fill(b)[0] for b in boards})))

    def handle_batch(self, records: list[Record]) -> None:
        for key, value, where in records:
            try:
                name, partition = parse_key(key)
                if value is None:  # a tombstone: nothing known about that partition any more
                    self.progress.pop((name, partition), None)
                    continue
                record = BoardProgress.model_validate_json(value)
                if (record.board, record.partition) != (name, partition):
                    raise ValueError(f"board/partition {record.board}|{record.partition} does not match the key")
            except (ValueError, UnicodeDecodeError, ValidationError) as exc:
                log.warning("skipping board-status record %s: %s", where, str(exc)[:300])
                continue
            self.progress[(name, partition)] = record

    def fill(self, board: Board) -> tuple[Literal["live", "backfilling"], float, list[dict[str, Any]]]:
        """(status, progress, per partition) of ``board`` for its current definition."""
        done = 0.0
        live = True
        rows: list[dict[str, Any]] = []
        for partition in range(self.partitions):
            record = self.progress.get((board.name, partition))
            if record is None or record.fingerprint != board.fingerprint:
                live = False
                rows.append({"partition": partition, "live": False, "at": None, "end": None})
                continue
            live = live and record.live
            done += 1.0 if record.live else (min(record.at, record.end) / record.end if record.end else 0.0)
            rows.append({"partition": partition, "live": record.live, "at": record.at, "end": record.end})
        if live:
            return "live", 1.0, rows
        # each partition's share done (an unreported one: nothing), averaged: never 1.0 before every one is live
        return "backfilling", min(ALMOST, round(done / self.partitions, 4)) if self.partitions else 0.0, rows


def leaderboards(boards: Boards, feed: BoardStatusFeed, now: datetime) -> dict[str, Any]:
    """The ``GET /leaderboards`` body."""
    data = []
    for board in boards:
        windows = []
        for window in board.windows:
            key = board.key(window, board.period(window, now))
            windows.append({"window": window, "period": boards.parse(key).period, **period_fields(key, boards)})
        status, progress, partitions = feed.fill(board)
        data.append({"board": board.name, "definition": board.describe(), "fingerprint": board.fingerprint,
                     "windows": windows, "status": status, "progress": progress, "partitions": partitions})
    return {"data": data, "timestamp": iso(now)}
