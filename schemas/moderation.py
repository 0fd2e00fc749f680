"""Moderation records: the commands on ``moderation`` and the worker's answers on ``moderation-results``.

``moderation`` is co-partitioned with ``score-events`` (same partition count, key ``user_id``, Java's default
partitioner): the worker that owns a user's events applies the commands about that user in order with them,
exactly once, and a replay of both topics reproduces every board, bans and reverts included. It is also the audit
record of every admin action (who: the admin key's *id*, never the key; what; why; when). A ``revert`` names an
event, not a user — the write API cannot know whose event an id is — so it is sent to every partition (key: the
event id) and only the partition whose journal holds the event acts on it; the others answer ``not_here``.

``moderation-results`` carries one answer per command and partition (key: the command id), read by the write API
to answer the admin's request (404, 410, ``already_reverted``, the ledger).

A ledger names its board (``board``, default ``global``; a board of ``SCOREBOARD_BOARDS_FILE``) with the window and
period: the write API has checked it against the same boards file, and the worker lists only the events that
count on that board's period, in the board's zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.boards import GLOBAL
from schemas.events import UserId
from schemas.leaderboard import Window

Action = Literal["ban", "unban", "revert", "ledger"]
Status = Literal["applied", "unchanged", "already_reverted", "not_found", "expired", "not_here", "refused"]
MAX_REASON = 500
MAX_LEDGER = 1000


class ModerationCommand(BaseModel):
    """One ``moderation`` record. ``ban``/``unban``/``ledger`` name ``user_id`` (the record's key); ``revert``
    names ``event_id`` (the key; one record per partition, all with the same ``command_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str = Field(min_length=1, max_length=64, description="unique per request; the answers carry it")
    action: Action
    user_id: UserId | None = None
    event_id: str | None = Field(None, min_length=1, max_length=255)
    reason: str | None = Field(None, max_length=MAX_REASON)
    admin_key_id: str = Field(min_length=1, max_length=80, description="the admin key's id, never the key")
    requested_at: datetime
    window: Window | None = Field(None, description="ledger: the board window (default alltime)")
    period: str | None = Field(None, max_length=16, description="ledger: the period of a daily/weekly window")
    limit: int | None = Field(None, ge=1, le=MAX_LEDGER, description="ledger: at most this many events")
    board: str = Field(GLOBAL, pattern=r"^[a-z0-9-]{1,64}$", description="ledger: the board (default global)")

    @model_validator(mode="after")
    def _names_its_target(self) -> ModerationCommand:
        if self.action == "revert" and self.event_id is None:
            raise ValueError("a revert names the event_id")
        if self.action != "revert" and self.user_id is None:
            raise ValueError(f"a {self.action} names the user_id")
        return self


class LedgerEntry(BaseModel):
    """One applied event of a user, from the worker's journal."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    action_id: str | None
    points: int
    occurred_at: datetime
    reverted: bool


class ModerationResult(BaseModel):
    """One ``moderation-results`` record: what one partition did with one command."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    partition: int
    status: Status
    detail: str | None = None
    user_id: str | None = None
    event_id: str | None = None
    points: int | None = Field(None, description="revert: the points taken off")
    events: list[LedgerEntry] | None = Field(None, description="ledger: newest first")
