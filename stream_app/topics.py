"""The Faust topic objects of the worker, built from the contract's names (``schemas.topics``).

Every topic carries raw bytes: the worker validates records itself so that a bad record becomes a dead letter
with a reason instead of a deserialization crash inside Faust.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.topics import TopicNames


@dataclass(frozen=True)
class WorkerTopics:
    score_events: Any
    dlq: Any
    applied: Any
    updates: Any
    candidates: Any


def create_topics(app: Any, names: TopicNames, partitions: int) -> WorkerTopics:
    def raw(name: str, parts: int) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=parts)

    return WorkerTopics(
        score_events=raw(names.score_events, partitions),
        dlq=raw(names.dlq, 1),
        applied=raw(names.applied, partitions),
        updates=raw(names.leaderboard_updates, 1),
        candidates=raw(names.candidates, 1),
    )
