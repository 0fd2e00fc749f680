"""Topic names and settings of the public contract (README); creating them is ``schemas.runtime.topic_admin``.

``score-events`` and ``moderation`` stamp records with the broker's clock (``message.timestamp.type=LogAppendTime``,
enforced on existing topics too, ``TopicSpec.enforced``), so a producer's clock can neither widen the idempotency
window nor move "now" for period expiry or the revert horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True)
class TopicNames:
    score_events: str = "score-events"
    dlq: str = "score-events-dlq"
    applied: str = "score-applied"
    leaderboard_updates: str = "leaderboard-updates"
    candidates: str = "leaderboard-candidates"
    user_standings: str = "user-standings"
    rank_changes: str = "rank-changes"
    finals: str = "leaderboard-final"
    moderation: str = "moderation"
    moderation_results: str = "moderation-results"
    board_status: str = "board-status"

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        base = cls()
        return cls(**{name: prefix + value for name, value in vars(base).items()})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    replication_factor: int = 1
    enforced: dict[str, str] = field(default_factory=dict)  # also set on an existing topic


def contract_topics(
    names: TopicNames, partitions: int = 6, audit_retention_ms: int = -1, replication_factor: int = 1
) -> list[TopicSpec]:
    """The public contract's topics with their settings.

    ``score-events`` is the audit log (retention ``audit_retention_ms``, -1 = forever), stamped by the broker;
    ``leaderboard-updates`` is compacted so its latest value per board is the current board; ``user-standings``
    is compacted so its latest value per user is the user's current standing (what read replicas rank from).
    """
    specs = [
        TopicSpec(names.score_events, partitions, {"retention.ms": str(audit_retention_ms),
                                                   "cleanup.policy": "delete", **LOG_APPEND_TIME},
                  enforced=LOG_APPEND_TIME),
        TopicSpec(names.dlq, 1, {"retention.ms": str(30 * DAY_MS), "cleanup.policy": "delete"}),
        TopicSpec(names.applied, partitions, {"retention.ms": str(7 * DAY_MS), "cleanup.policy": "delete"}),
        TopicSpec(names.leaderboard_updates, 1, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                                                 "segment.ms": str(3600 * 1000)}),
        TopicSpec(names.candidates, 1, {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}),
        TopicSpec(names.user_standings, partitions, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                                                     "segment.ms": str(3600 * 1000)}),
        TopicSpec(names.rank_changes, partitions, {"retention.ms": str(7 * DAY_MS), "cleanup.policy": "delete"}),
        TopicSpec(names.finals, 1, {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}),
        # co-partitioned with score-events; the audit record of admin actions: kept as long as the audit log
        TopicSpec(names.moderation, partitions, {"retention.ms": str(audit_retention_ms), "cleanup.policy": "delete",
                                                 **LOG_APPEND_TIME}, enforced=LOG_APPEND_TIME),
        TopicSpec(names.moderation_results, partitions, {"retention.ms": str(7 * DAY_MS), "cleanup.policy": "delete"}),
        # each board's fill from the audit log, per source partition (schemas.boards.BoardProgress): GET /leaderboards
        TopicSpec(names.board_status, 1, {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}),
    ]
    return [TopicSpec(s.name, s.partitions, s.config, replication_factor, s.enforced) for s in specs]
