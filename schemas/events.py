"""Records on the ``score-events`` and ``score-applied`` topics, and the ``POST /scores`` body.

The same validators serve the write API and the stream worker, because direct producers to
``score-events`` skip the API and must be held to the same rules.

Characters (``user_id``, ``action_id``, ``event_id``, ``username``): what real names contain is accepted, format
characters (Unicode category Cf) such as the zero width joiner of ``👩‍💻`` included. Refused: C0/C1 controls (Cc),
unpaired surrogates (Cs), line and paragraph separators (Zl, Zp) and the bidirectional overrides and isolates
U+202A–U+202E, U+2066–U+2069 (they make a name display as another). ``username`` is stored in NFC, so one name
typed two ways is one name; ``user_id`` is an opaque id and is never changed: the record key is its exact bytes.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

MAX_USERNAME = 64
REFUSED_CATEGORIES = {"Cc": "control characters", "Zl": "control characters", "Zp": "control characters",
                      "Cs": "unpaired surrogates"}
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BIDI_MESSAGE = "must not contain bidirectional override or isolate characters (U+202A-U+202E, U+2066-U+2069)"


def check_characters(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` naming what it must not contain (see the module docstring)."""
    if value.isprintable():  # fast path: no Cc/Cf/Cs/Zl/Zp character at all (so no bidi control either)
        return value
    for ch in value:  # slow path: isprintable() is False for every Cf (ZWJ too) and for Zs other than " "
        if ch in BIDI_CONTROLS:
            raise ValueError(BIDI_MESSAGE)
        what = REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what is not None:
            raise ValueError(f"must not contain {what}")
    return value


def _nfc_name(value: str) -> str:
    """The display name in NFC (``"e\\u0301"`` -> ``"é"``); NFC may lengthen a few scripts, so the limit is
    checked again on the stored form."""
    if value.isascii():
        return value
    value = unicodedata.normalize("NFC", value)
    if len(value) > MAX_USERNAME:
        raise ValueError(f"must have at most {MAX_USERNAME} characters in NFC")
    return value


def _not_blank(value: str) -> str:
    """Something visible: not only spaces and format characters (a name of zero width joiners shows as nothing)."""
    if not value.strip() or (not value.isprintable()
                             and all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)):
        raise ValueError("must not be blank")
    return value


UserId = Annotated[
    str, Field(min_length=1, max_length=128, strict=True), AfterValidator(_not_blank),
    AfterValidator(check_characters),
]
ActionId = Annotated[
    str, Field(min_length=1, max_length=128, strict=True), AfterValidator(_not_blank),
    AfterValidator(check_characters),
]
Username = Annotated[
    str, Field(min_length=1, max_length=MAX_USERNAME, strict=True), AfterValidator(_not_blank),
    AfterValidator(check_characters), AfterValidator(_nfc_name),
]
EventValue = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1, description=(
    "the score of a value action (a lap time, a level reached), within the action's catalog range; required for "
    "value actions, refused for points actions"))]
EventId = Annotated[str, Field(min_length=1, max_length=128, strict=True), AfterValidator(check_characters)]


class ScoreRequest(BaseModel):
    """Body of ``POST /scores``. Unknown fields are refused so that typos (``"score": 100``) are not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"user_id": "u-0042", "action_id": "win_match", "username": "Jonas"}]})

    user_id: UserId
    action_id: ActionId
    username: Username | None = None
    value: EventValue | None = None


class ScoreEvent(BaseModel):
    """Value of a ``score-events`` record (key: ``user_id``). Unknown fields are ignored (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: UserId
    action_id: ActionId
    event_id: EventId | None = None
    username: Username | None = None
    occurred_at: AwareDatetime | None = None
    value: EventValue | None = None


class ScoreApplied(BaseModel):
    """Value of a ``score-applied`` record: the answer to an event, at least once (a replay after a worker crash or
    a repeat of an event id repeats the first answer): consumers dedupe by ``event_id``."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    user_id: str
    action_id: str
    points: int
    new_score: int
    applied_at: datetime
