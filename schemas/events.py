"""Records on the ``score-events`` and ``score-applied`` topics, and the ``POST /scores`` body.

The same validators serve the write API and the stream worker, because direct producers to
``score-events`` skip the API and must be held to the same rules.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _no_control_chars(value: str) -> str:
    if value.isprintable():  # fast path: printable strings have no Cc/Cf/Zl/Zp characters at all
        return value
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


UserId = Annotated[
    str, Field(min_length=1, max_length=128, strict=True), AfterValidator(_not_blank),
    AfterValidator(_no_control_chars),
]
ActionId = Annotated[
    str, Field(min_length=1, max_length=128, strict=True), AfterValidator(_not_blank),
    AfterValidator(_no_control_chars),
]
Username = Annotated[str, Field(min_length=1, max_length=64, strict=True), AfterValidator(_no_control_chars)]
EventId = Annotated[str, Field(min_length=1, max_length=128, strict=True), AfterValidator(_no_control_chars)]


class ScoreRequest(BaseModel):
    """Body of ``POST /scores``. Unknown fields are refused so that typos (``"score": 100``) are not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UserId
    action_id: ActionId
    username: Username | None = None


class ScoreEvent(BaseModel):
    """Value of a ``score-events`` record (key: ``user_id``). Unknown fields are ignored (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: UserId
    action_id: ActionId
    event_id: EventId | None = None
    username: Username | None = None
    occurred_at: AwareDatetime | None = None


class ScoreApplied(BaseModel):
    """Value of a ``score-applied`` record: one per applied event (a repeat of an event id repeats the first)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    user_id: str
    action_id: str
    points: int
    new_score: int
    applied_at: datetime
