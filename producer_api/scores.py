"""``POST /scores``: the write API's hot path, a plain ASGI app (``ScoresEndpoint``) on a route of its own
(``route()``), with what it reads from the request (``Prefer``, content type, the JSON body).

A request meets, in order, each a separate part of the app (see ``app.create_app``): ``MetricsMiddleware`` (counts
it) -> ``ApiKeyMiddleware`` (401, before the body) -> ``IdempotencyKeyMiddleware`` (400 if malformed; generated if
absent; echoed on every answer from here on) -> ``BodyLimitMiddleware`` (413 for a declared size, before reading)
-> the router -> ``ScoresEndpoint``: ``Prefer``, content type, the body (413 as soon as it passes the limit),
JSON and fields (400) -> catalog (422) -> produce, acknowledged by the broker (503 if not) -> wait, bounded, for
the event's answer: ``score-applied`` (200) or its dead letter (422, refused by the worker); past the bound, or
with ``Prefer: respond-async``, 202.

The route is an ordinary route of the FastAPI app: the router dispatches to it behind every middleware, and its
OpenAPI operation is generated from it. Its requests are served by ``ScoresEndpoint`` rather than through
FastAPI's Request/Response and dependency machinery, which cost more CPU per request than the rest of the request
(py-spy, bench 2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import Header
from pydantic import SecretStr, ValidationError
from starlette.types import Receive, Scope, Send

from producer_api import auth, idempotency
from producer_api.asgi import AsgiRoute, header_text, header_values, read_body, send_json
from producer_api.auth import ApiKey
from producer_api.errors import BadRequest, from_pydantic, problem, summary
from producer_api.kafka_io import EventLogUnavailable, encode_request
from producer_api.limits import BodyTooLarge
from producer_api.models import (
    IDEMPOTENCY_KEY_HEADER,
    AcceptedBody,
    BadRequestBody,
    ErrorBody,
    RefusedBody,
    ScoreAppliedBody,
    documented,
)
from producer_api.replies import Refused
from producer_api.state import ApiState
from schemas.events import ScoreRequest

PATH = "/scores"
UNAVAILABLE = orjson.dumps({"detail": "event log unavailable, retry"})
RESPOND_ASYNC = (b"preference-applied", b"respond-async")


# --- reading the request ---------------------------------------------------------------------------------------

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


def wants_async(prefer_headers: list[str]) -> bool:
    """RFC 7240: ``Prefer: respond-async`` (possibly among other preferences, in one or several headers)."""
    for header in prefer_headers:
        for preference in header.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name == "respond-async":
                return True
    return False


# --- serving it ------------------------------------------------------------------------------------------------

class ScoresEndpoint:
    """Serves ``POST /scores`` behind ``ApiKeyMiddleware`` and ``IdempotencyKeyMiddleware`` (the API key and the
    ``Idempotency-Key`` are in the scope) and ``BodyLimitMiddleware`` (``receive`` is limited)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ApiState = scope["state"]["api"]
        api_key, idem = scope.get(auth.SCOPE_KEY), scope.get(idempotency.SCOPE_KEY)
        if not isinstance(api_key, SecretStr) or not isinstance(idem, str):
            raise RuntimeError("POST /scores needs ApiKeyMiddleware and IdempotencyKeyMiddleware in front of it")
        try:
            respond_async = wants_async(header_values(scope, b"prefer"))
            check_content_type(header_text(scope, b"content-type"))
            score = parse_score_request(await read_body(receive))
        except BadRequest as exc:
            await send_json(send, 400, exc.body())
            return
        except BodyTooLarge as exc:
            await send_json(send, 413, exc.body())
            return
        if state.catalog.points(score.action_id) is None:
            await send_json(send, 422, orjson.dumps({"detail": f"unknown action_id '{score.action_id}'"}))
            return

        event_log, replies, metrics = state.event_log, state.replies, state.metrics
        if event_log is None or replies is None:
            await send_json(send, 503, UNAVAILABLE)
            return
        event_id = idempotency.idempotent_event_id(api_key, score.user_id, idem)
        key, value = encode_request(score, event_id, datetime.now(UTC))
        accepted = orjson.dumps({"status": "accepted", "event_id": event_id})

        # registered before producing, so the answer cannot pass it by
        waiter = None if respond_async else replies.register(event_id, score.action_id)
        try:
            try:
                await event_log.produce(key, value)
            except EventLogUnavailable:
                metrics.produce_errors.inc()
                await send_json(send, 503, UNAVAILABLE)
                return
            if waiter is None:
                metrics.replied_async.inc()
                await send_json(send, 202, accepted, (RESPOND_ASYNC,))
                return
            answer = await replies.wait(waiter, state.settings.reply_timeout)
            if answer is None:
                metrics.replied_timeout.inc()
                await send_json(send, 202, accepted)
            elif isinstance(answer, Refused):
                metrics.replied_refused.inc()
                await send_json(send, 422, orjson.dumps({"detail": answer.reason, "event_id": event_id}))
            else:
                metrics.replied_applied.inc()
                body = orjson.dumps({"status": "success", "new_score": answer.new_score, "event_id": event_id})
                await send_json(send, 200, body)
        finally:
            if waiter is not None:
                replies.discard(event_id, waiter)


# --- the route: dispatched to by the router, documented in OpenAPI ----------------------------------------------

_request_schema = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
RETRY_WITH = IDEMPOTENCY_KEY_HEADER


def post_score(
    _: ApiKey,
    idempotency_key: Annotated[str | None, Header(
        description="1-255 printable ASCII characters. Scoped by (API key, `user_id`, key): within 24 h the "
                    "same key for the same user applies once and repeats answer as the first did; the same key "
                    "for another `action_id` is refused (422). Without it one is generated; every answer "
                    "carries the key in its `Idempotency-Key` header, to retry with after a timeout or a 5xx"
    )] = None,
    prefer: Annotated[str | None, Header(
        description="`respond-async`: answer 202 as soon as the event is durably logged")] = None,
) -> None:
    # The request's headers, as OpenAPI shows them (no docstring: it would become the operation's description).
    # A declaration for ``AsgiRoute``: ``ScoresEndpoint`` serves the requests, nothing calls this.
    ...


def route() -> AsgiRoute:
    """``POST /scores``, served by a new ``ScoresEndpoint``."""
    return AsgiRoute(
        PATH,
        ScoresEndpoint(),
        declared=post_score,
        methods=["POST"],
        summary="Report an action; the user's score grows by the action's points",
        response_model=None,
        openapi_extra={"requestBody": {"required": True,
                                       "content": {"application/json": {"schema": _request_schema}}}},
        responses={
            200: documented("Applied: the user's new all-time total, and the event id", ScoreAppliedBody,
                            RETRY_WITH),
            202: documented("Accepted and durably logged; not applied within the wait bound, or `Prefer: "
                            "respond-async` was sent", AcceptedBody, RETRY_WITH),
            400: documented("Malformed JSON, wrong content type, or an invalid field or header (the answer carries "
                            "`Idempotency-Key` unless that header itself is the problem)", BadRequestBody,
                            RETRY_WITH),
            401: documented("Missing or invalid `X-API-KEY` (checked before the body is read)", ErrorBody),
            413: documented("Request body larger than SCOREBOARD_MAX_BODY_BYTES", ErrorBody, RETRY_WITH),
            422: documented(
                "Not applied, for one of two reasons. Without `event_id`: the `action_id` is not in the action "
                "catalog, and nothing was logged. With `event_id`: the event was logged but the stream worker "
                "refused it, and `detail` is its reason, e.g. the Idempotency-Key was already used for this user "
                "with another `action_id` (\"idempotency key reused ...\"), or the user's total would leave the "
                "signed 64-bit range. Either way the score did not change.",
                ErrorBody | RefusedBody, RETRY_WITH),
            503: documented("The event log (Kafka) did not acknowledge the event; retry with the `Idempotency-Key` "
                            "of this answer", ErrorBody, RETRY_WITH),
        },
    )
