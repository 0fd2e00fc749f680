"""``POST /scores`` as a plain ASGI app in an ordinary Starlette ``Route`` of the app's router: the hot path.

Before it, the app's middlewares (``producer_api.middleware``) have checked the key (401), the rate limit (429),
the ``Idempotency-Key`` (400; generated if absent, echoed on every answer from then on) and a declared body size
(413). Here: other headers, body size while reading, JSON and fields (400) -> catalog (422; then the ``value``
against the action's entry: 400) -> produce,
acknowledged by the broker (503 if nothing was written; 504 if the record was sent but not acknowledged: the
outcome is unknown) -> wait, bounded, for the event's answer: ``score-applied`` (200) or its dead letter (422,
refused by the worker); past the bound, 202.

It is an ASGI app rather than a FastAPI route because FastAPI's request wrapper and dependency resolution cost
more CPU per request than the rest of the request (py-spy, bench 2); its OpenAPI operation is generated from the
declarations in ``producer_api.scores_doc``, beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.types import Receive, Scope, Send

from producer_api import score_request
from producer_api.asgi import BodyTooLarge, ClientGone, first_header, header_values, read_body, send_json
from producer_api.auth import SCOPE_KEY, Credential, EventIds
from producer_api.errors import BadRequest
from producer_api.kafka_io import EventLogUnavailable, OutcomeUnknown, encode_request
from producer_api.limits import too_large_body
from producer_api.middleware import IDEMPOTENCY_SCOPE_KEY, STATUS_KEY
from producer_api.replies import Refused
from producer_api.state import ApiState

UNAVAILABLE = orjson.dumps({"status": "not_written", "detail": "the event log (Kafka) is unavailable and nothing "
                            "was written; retry after the Retry-After header's seconds"})
RETRY_AFTER = ((b"retry-after", b"1"),)
RESPOND_ASYNC = ((b"preference-applied", b"respond-async"),)
CLIENT_GONE = 499  # counted, never sent: the client left before its request was whole (nginx's code)


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
        "detail": "the event was handed to the event log's producer but Kafka did not acknowledge it in time (the "
                  "broker may be slow or unreachable): it may or may not be counted, now or once the broker is "
                  "back; retry with the same Idempotency-Key (it counts once)",
    })


class ScoresEndpoint:
    def __init__(self, max_body_bytes: int, event_ids: EventIds) -> None:
        self.max_body_bytes = max_body_bytes
        self.event_ids = event_ids
        self.too_large = too_large_body(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        credential = scope.get(SCOPE_KEY)
        idem = scope.get(IDEMPOTENCY_SCOPE_KEY)
        if not isinstance(credential, Credential) or not isinstance(idem, str):
            raise RuntimeError("POST /scores needs the ApiKeyCheck and IdempotencyKeys middlewares in front of it")
        try:
            await self.serve(scope, receive, send, credential, idem)
        except ClientGone:
            scope[STATUS_KEY] = CLIENT_GONE

    async def serve(self, scope: Scope, receive: Receive, send: Send, api_key: Credential, idem: str) -> None:
        state: ApiState = scope["state"]["api"]
        try:
            respond_async = score_request.wants_async(header_values(scope, b"prefer"))
            score_request.check_content_type(_text(first_header(scope, b"content-type")))
            score = score_request.parse_score_request(await read_body(receive, self.max_body_bytes))
        except BadRequest as exc:
            await send_json(send, 400, _bad_request(exc))
            return
        except BodyTooLarge:
            await send_json(send, 413, self.too_large)
            return
        if score.value is not None or state.catalog.points(score.action_id) is None:  # else: a points action
            if score.action_id not in state.catalog:
                await send_json(send, 422, orjson.dumps({"detail": f"unknown action_id '{score.action_id}'"}))
                return
            try:
                score_request.check_value(score, state.catalog)
            except BadRequest as exc:
                await send_json(send, 400, _bad_request(exc))
                return

        event_log, replies, metrics = state.event_log, state.replies, state.metrics
        if event_log is None or replies is None:
            await send_json(send, 503, UNAVAILABLE, RETRY_AFTER)
            return
        event_id = self.event_ids(api_key.key_id, score.user_id, idem)
        key, value = encode_request(score, event_id, datetime.now(UTC))

        # registered before producing, so the answer cannot pass it by
        waiter = None if respond_async else replies.register(event_id, score.action_id, score.value)
        try:
            try:
                await event_log.produce(key, value)
            except EventLogUnavailable:
                metrics.produce_errors.inc()
                await send_json(send, 503, _not_written(event_id), RETRY_AFTER)
                return
            except OutcomeUnknown:
                metrics.produce_unknown.inc()
                await send_json(send, 504, _unknown(event_id), RETRY_AFTER)
                return
            accepted = orjson.dumps({"status": "accepted", "event_id": event_id})
            if waiter is None:
                metrics.replied_async.inc()
                await send_json(send, 202, accepted, RESPOND_ASYNC)
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
                await send_json(send, 200, orjson.dumps(
                    {"status": "success", "new_score": answer.new_score, "event_id": event_id}))
        finally:
            if waiter is not None:
                replies.discard(event_id, waiter)
