"""The OpenAPI operation of ``POST /scores``, generated from declarations kept beside its endpoint.

``scores.ScoresEndpoint`` is an ASGI app in a plain ``Route``, which FastAPI does not document. Its headers,
body model and answers are declared here once — the same models the endpoint validates with and answers in — and
:func:`document` adds the operation to the app's OpenAPI (the test of the exported document checks it, and the
ASGI tests check each documented answer against what is served).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from producer_api.models import (
    IDEMPOTENCY_KEY_HEADER,
    AcceptedBody,
    BadRequestBody,
    ErrorBody,
    NotWrittenBody,
    RefusedBody,
    ScoreAppliedBody,
    UnknownOutcomeBody,
)
from producer_api.score_request import MAX_IDEMPOTENCY_KEY
from schemas.events import ScoreRequest
from schemas.runtime.docs import SchemaRef, extend_openapi

RETRY_WITH = IDEMPOTENCY_KEY_HEADER
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
RETRY_LATER = {**IDEMPOTENCY_KEY_HEADER, **RETRY_AFTER}

SUMMARY = "Report an action; the user's score grows by the action's points"

HEADERS: tuple[tuple[str, str], ...] = (
    ("Idempotency-Key",
     f"1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters. Scoped by (API key id, `user_id`, key): within 24 h the "
     "same key for the same user applies once and repeats answer as the first did; the same key for another "
     "`action_id` or `value` is refused (422). Without it one is generated; every answer carries the key in its "
     "`Idempotency-Key` header, to retry with after a timeout or a 5xx"),
    ("Prefer", "`respond-async`: answer 202 as soon as the event is durably logged"),
)

# status -> (description, the body model(s), response headers)
RESPONSES: dict[int, tuple[str, tuple[type[BaseModel], ...], dict[str, Any]]] = {
    200: ("Applied: the user's new all-time total on the `global` board (a value action's event, which counts on "
          "value boards only, leaves it as it was), and the event id", (ScoreAppliedBody,), RETRY_WITH),
    202: ("Accepted and durably logged; not applied within the wait bound, or `Prefer: respond-async` was sent",
          (AcceptedBody,), RETRY_WITH),
    400: ("Malformed JSON, wrong content type, or an invalid field or header (the answer carries "
          "`Idempotency-Key` unless that header itself is the problem). That includes `value`: required for a "
          "value action (`{min, max}` in the catalog, see `GET /actions`) and within its range, both ends "
          "included; not allowed for a points action", (BadRequestBody,), RETRY_WITH),
    401: ("Missing or invalid `X-API-KEY` (checked before the body is read)", (ErrorBody,), {}),
    413: ("Request body larger than SCOREBOARD_MAX_BODY_BYTES", (ErrorBody,), RETRY_WITH),
    422: ("Not applied, for one of two reasons. Without `event_id`: the `action_id` is not in the action "
          "catalog, and nothing was logged. With `event_id`: the event was logged but the stream worker "
          "refused it, and `detail` is its reason, e.g. the Idempotency-Key was already used for this user "
          "with another `action_id` or `value` (\"idempotency key reused ...\"), or the user's total would leave the "
          "signed 64-bit range. Either way the score did not change.", (ErrorBody, RefusedBody), RETRY_WITH),
    429: ("The API key's rate limit (SCOREBOARD_RATE_LIMIT) is exceeded: nothing was read or logged; "
          "wait `Retry-After` seconds", (ErrorBody,), RETRY_LATER),
    503: ("Nothing was written: the event log (Kafka) is unavailable. Retry after `Retry-After` seconds (with this "
          "answer's `Idempotency-Key`)", (NotWrittenBody,), RETRY_LATER),
    504: ("Outcome unknown: the event was sent to the event log but not acknowledged in time; it may be counted "
          "now or later. Retry with this answer's `Idempotency-Key` (it counts once) until a 200, 202 or 422 "
          "tells the outcome", (UnknownOutcomeBody,), RETRY_LATER),
}


def operation(ref: SchemaRef) -> dict[str, Any]:
    """The OpenAPI operation; ``ref(model)`` registers a model's schema and returns its ``$ref``."""
    responses: dict[str, Any] = {}
    for status, (description, models, headers) in RESPONSES.items():
        refs = [{"$ref": ref(m)} for m in models]
        schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
        responses[str(status)] = {"description": description, "content": {"application/json": {"schema": schema}},
                                  **({"headers": headers} if headers else {})}
    return {
        "summary": SUMMARY,
        "operationId": "post_score_scores_post",
        "security": [{"APIKeyHeader": []}],
        "parameters": [{"name": name.lower(), "in": "header", "required": False, "description": description,
                        "schema": {"type": "string", "title": name}} for name, description in HEADERS],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": ref(ScoreRequest, "validation")}}}},
        "responses": responses,
    }


def document(app: FastAPI) -> None:
    """Add ``POST /scores`` to the app's OpenAPI (FastAPI documents only its own routes)."""

    def add(schema: dict[str, Any], ref: SchemaRef) -> None:
        schema["paths"] = {"/scores": {"post": operation(ref)}, **schema["paths"]}

    extend_openapi(app, add)
