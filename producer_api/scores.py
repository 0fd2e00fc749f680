"""``POST /scores`` as a plain ASGI handler, called by the front door: the hot path of the write API.

Order: key (front door, before the body) -> ``Idempotency-Key`` (400 if malformed; generated if absent) ->
declared body size (413, before reading) -> other headers, body size while reading, JSON and fields (400) ->
catalog (422) -> produce, acknowledged by the broker (503 if nothing was written; 504 if the record was sent but
not acknowledged: the outcome is unknown) -> wait, bounded, for the event's answer: ``score-applied`` (200) or its
dead letter (422, refused by the worker); past the bound, 202.

From the moment the ``Idempotency-Key`` is known every answer carries it in an ``Idempotency-Key`` header: the
client's, or the one generated for it, to retry with safely after a timeout or a 5xx.

The answers are exactly those of the route documented in ``routes.py``; they are served here, not through
FastAPI's routing and dependency resolution, because that machinery cost more CPU per request than the rest of
the request (py-spy, bench 2).
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.types import Receive, Scope, Send

from producer_api import intake
from producer_api.asgi import BodyTooLarge, declared_too_large, first_header, header_values, read_body, send_json
from producer_api.auth import Credential, EventIds
from producer_api.errors import BadRequest
from producer_api.kafka_io import EventLogUnavailable, OutcomeUnknown, encode_request
from producer_api.limits import too_large_body
from producer_api.replies import Refused
from producer_api.state import ApiState

UNAVAILABLE = orjson.dumps({"status": "not_written", "detail": "the event log (Kafka) is unavailable and nothing "
                            "was written; retry after the Retry-After header's seconds"})
RETRY_AFTER = (b"retry-after", b"1")
RESPOND_ASYNC = (b"preference-applied", b"respond-async")
IDEMPOTENCY_KEY = b"idempotency-key"


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")  # as Starlette decodes header values


def _bad_request(exc: BadRequest) -> bytes:
    return orjson.dumps({"detail": exc.detail, "errors": exc.errors})


def _not_written(event_id: str) -> bytes:
    return orjson.dumps({"status": "not_written", "event_id": event_id,
                         "detail": "the event log (Kafka) is unavailable and nothing was written; retry after the "
                                   "Retry-After header's seconds (with the same Idempotency-Key)"})


def _unknown(event_id: str) -> bytes:
    return orjson.dumps({
        "status": "unknown", "event_id": event_id,
        "detail": "the event was sent to the event log (Kafka) but not acknowledged in time: it may or may not be "
                  "counted; retry with the same Idempotency-Key (it counts once)",
    })


class ScoresEndpoint:
    def __init__(self, max_body_bytes: int, event_ids: EventIds) -> None:
        self.max_body_bytes = max_body_bytes
        self.event_ids = event_ids
        self.too_large = too_large_body(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, api_key: Credential) -> int:
        """Serve one request whose key was checked; returns the status code sent."""
        state: ApiState = scope["state"]["api"]
        try:
            idem = intake.check_idempotency_key(_text(first_header(scope, IDEMPOTENCY_KEY)))
        except BadRequest as exc:  # the one answer that cannot carry the key
            return await send_json(send, 400, _bad_request(exc))
        if idem is None:
            idem = intake.new_idempotency_key()
        echo = ((IDEMPOTENCY_KEY, idem.encode("ascii")),)  # printable ASCII: checked or generated
        if declared_too_large(scope, self.max_body_bytes):
            return await send_json(send, 413, self.too_large, echo)
        try:
            respond_async = intake.wants_async(header_values(scope, b"prefer"))
            intake.check_content_type(_text(first_header(scope, b"content-type")))
            score = intake.parse_score_request(await read_body(receive, self.max_body_bytes))
        except BadRequest as exc:
            return await send_json(send, 400, _bad_request(exc), echo)
        except BodyTooLarge:
            return await send_json(send, 413, self.too_large, echo)
        if state.catalog.points(score.action_id) is None:
            unknown = orjson.dumps({"detail": f"unknown action_id '{score.action_id}'"})
            return await send_json(send, 422, unknown, echo)

        event_log, replies, metrics = state.event_log, state.replies, state.metrics
        if event_log is None or replies is None:
            return await send_json(send, 503, UNAVAILABLE, (RETRY_AFTER, *echo))
        event_id = self.event_ids(api_key.key_id, score.user_id, idem)
        key, value = encode_request(score, event_id, datetime.now(UTC))
        accepted = orjson.dumps({"status": "accepted", "event_id": event_id})

        # registered before producing, so the answer cannot pass it by
        waiter = None if respond_async else replies.register(event_id, score.action_id)
        try:
            try:
                await event_log.produce(key, value)
            except EventLogUnavailable:
                metrics.produce_errors.inc()
                return await send_json(send, 503, _not_written(event_id), (RETRY_AFTER, *echo))
            except OutcomeUnknown:
                metrics.produce_unknown.inc()
                return await send_json(send, 504, _unknown(event_id), (RETRY_AFTER, *echo))
            if waiter is None:
                metrics.replied_async.inc()
                return await send_json(send, 202, accepted, (RESPOND_ASYNC, *echo))
            answer = await replies.wait(waiter, state.settings.reply_timeout)
            if answer is None:
                metrics.replied_timeout.inc()
                return await send_json(send, 202, accepted, echo)
            if isinstance(answer, Refused):
                metrics.replied_refused.inc()
                return await send_json(send, 422, orjson.dumps({"detail": answer.reason, "event_id": event_id}),
                                       echo)
            metrics.replied_applied.inc()
            body = orjson.dumps({"status": "success", "new_score": answer.new_score, "event_id": event_id})
            return await send_json(send, 200, body, echo)
        finally:
            if waiter is not None:
                replies.discard(event_id, waiter)
