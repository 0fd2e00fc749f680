"""Reading a ``POST /scores`` request: content type, JSON body, ``Idempotency-Key``, ``Prefer``, and the
``value`` against the action's catalog entry.

Every problem raises ``BadRequest`` (400) with a readable message; nothing here touches Kafka. A ``value`` is a
field of the body whose validity depends on the catalog (required and within the range for a value action, not
allowed for a points action): a bad one is a 400 like any invalid field, decided before anything is logged, so the
worker's own check of it (a dead letter) only ever meets direct producers.

Idempotency is scoped by (API key id, ``user_id``, ``Idempotency-Key``): the event id is a keyed hash of the three
(``producer_api.auth.EventIds``), so one key sent for two users is two events. A request without an
``Idempotency-Key`` gets one generated here; the answer carries it, and a retry with it has the same event id
(and counts once).
"""

from __future__ import annotations

import os

import orjson
from pydantic import ValidationError

from producer_api.errors import BadRequest, from_pydantic, problem, summary
from schemas.catalog import ActionCatalog
from schemas.events import ScoreRequest

MAX_IDEMPOTENCY_KEY = 255


def check_content_type(value: str | None) -> None:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise BadRequest(
            "Content-Type must be application/json",
            [problem(("header", "content-type"), "must be application/json", "content_type")],
        )


def parse_score_request(body: bytes) -> ScoreRequest:
    """One pass for a valid body (pydantic-core parses and validates the bytes); a body that fails is parsed
    again the slow way only to word the 400 (malformed JSON / not an object / which fields)."""
    try:
        return ScoreRequest.model_validate_json(body)
    except ValidationError:
        pass
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", [problem(("body",), str(exc), "json_invalid")]) from None
    if not isinstance(raw, dict):
        raise BadRequest(
            "request body must be a JSON object",
            [problem(("body",), f"must be a JSON object, not {type(raw).__name__}", "object_type")],
        )
    try:
        return ScoreRequest.model_validate(raw)
    except ValidationError as exc:
        errors = from_pydantic(exc.errors(include_url=False, include_input=False), ("body",))
        raise BadRequest(summary("invalid request body", errors), errors) from None


def _bad_value(message: str, type_: str) -> BadRequest:
    return BadRequest(f"invalid request body: value: {message}", [problem(("body", "value"), message, type_)])


def check_value(score: ScoreRequest, catalog: ActionCatalog) -> None:
    """``BadRequest`` unless ``score.value`` fits its action (an action in ``catalog``): present and within the
    range for a value action, absent for a points action."""
    value_range = catalog.value_range(score.action_id)
    if value_range is None:
        if score.value is not None:
            raise _bad_value(f"not allowed: action {score.action_id!r} has catalog points (only value actions, "
                             "{min, max} in the catalog, take a value)", "value_not_allowed")
        return
    if score.value is None:
        raise _bad_value(f"required: action {score.action_id!r} is a value action (an integer in "
                         f"{value_range.min}..{value_range.max})", "missing")
    if not value_range.min <= score.value <= value_range.max:
        raise _bad_value(f"{score.value} is outside the range of action {score.action_id!r}: "
                         f"{value_range.min}..{value_range.max}", "value_out_of_range")


def check_idempotency_key(value: str | None) -> str | None:
    """1..255 printable ASCII characters, or None when the header is absent."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not all(" " <= ch <= "~" for ch in value):
        msg = f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        loc = ("header", "idempotency-key")
        raise BadRequest(f"Idempotency-Key {msg}", [problem(loc, msg, "idempotency_key")])
    return value


def wants_async(prefer_headers: list[str]) -> bool:
    """RFC 7240: ``Prefer: respond-async`` (possibly among other preferences, in one or several headers)."""
    for header in prefer_headers:
        for preference in header.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name == "respond-async":
                return True
    return False


def new_idempotency_key() -> str:
    """A key for a request that came without one: 32 hex digits (a valid ``Idempotency-Key`` itself)."""
    return os.urandom(16).hex()

