"""The worker's topics, built from the contract's names (``schemas.topics``).

Sources (``score-events``, ``leaderboard-candidates``, ``moderation``) are Faust topics carrying raw bytes: the
worker validates records itself so that a bad record becomes a dead letter with a reason instead of a
deserialization crash.
Outputs are :class:`Output`: they go straight to the app's producer, skipping Faust's per-message
``Topic.send`` machinery (measured at several times the cost), and are still flushed by Faust before every
offset commit, which is what the at-least-once argument needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.topics import TopicNames
from stream_app.record_batches import RecordBatches
from stream_app.sends import SendGuard

log = logging.getLogger(__name__)


class Output:
    """A topic the worker writes to through ``app.producer`` (Faust flushes it before committing offsets); every
    delivery is watched by the :class:`~stream_app.sends.SendGuard`, so a failed one stops the next commit."""

    def __init__(self, app: Any, name: str, guard: SendGuard) -> None:
        self.app = app
        self.name = name
        self.guard = guard

    async def send(self, key: bytes | None, value: bytes | None,
                   headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        """Hand one record to the producer; raises ``ProducerSendError`` if the producer refuses it outright
        (e.g. larger than ``producer_max_request_size``)."""
        future = await self.app.producer.send(self.name, key, value, None, None, headers)
        self.guard.track(future, f"a record to {self.name}")

    async def send_and_wait(self, key: bytes | None, value: bytes | None) -> None:
        """Send one record and wait until the broker acknowledged it (raises if it did not)."""
        future = await self.app.producer.send(self.name, key, value, None, None, None)
        self.guard.track(future, f"a record to {self.name}")
        await future


class KeyedBatches:
    """A keyed topic written a set of records at a time into record batches (:mod:`stream_app.record_batches`):
    each record to the partition its key hashes to (murmur2, as the producer's default partitioner), one
    ``send_batch`` per partition instead of one ``producer.send`` per record. An emitted board's rank changes are
    dozens of records at once; sent one by one they cost ~9 % of a six-board worker's CPU (bench 11's profile).
    The records go through the app's producer (flushed before every commit) and are watched by the guard."""

    def __init__(self, batches: RecordBatches, name: str) -> None:
        self.batches = batches  # this output's own: its sends never carry another path's half-built records
        self.name = name

    async def send_all(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        if not records:
            return
        count = await self.batches.partition_count(self.name)
        for key, value in records:
            self.batches.add(self.name, RecordBatches.partition_for(key, count), key, value)
        await self.batches.send()


@dataclass(frozen=True)
class WorkerTopics:
    score_events: Any
    candidates: Any
    moderation: Any  # co-partitioned with score-events
    moderation_results: str  # written in the moderator's record batches
    dlq: Output
    applied: Output
    updates: Output
    standings: str  # user-standings: written in the ingest's record batches (record_batches), beside the changelog
    rank_changes: KeyedBatches
    finals: Output


def create_topics(app: Any, names: TopicNames, partitions: int, guard: SendGuard) -> WorkerTopics:
    def source(name: str, parts: int) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=parts)

    return WorkerTopics(
        score_events=source(names.score_events, partitions),
        candidates=source(names.candidates, 1),
        moderation=source(names.moderation, partitions),
        moderation_results=names.moderation_results,
        dlq=Output(app, names.dlq, guard),
        applied=Output(app, names.applied, guard),
        updates=Output(app, names.leaderboard_updates, guard),
        standings=names.user_standings,
        rank_changes=KeyedBatches(RecordBatches(app, guard), names.rank_changes),
        finals=Output(app, names.finals, guard),
    )
