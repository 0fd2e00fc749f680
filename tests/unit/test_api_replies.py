"""How the write API's reply listener reads a dead letter and which waiting requests an answer resolves.

Pure logic: ``refusal_of`` on header/value pairs as the worker writes them (and as a direct producer might), and
``ReplyListener``'s waiters resolved by hand, without starting its consumer. The same paths over a real broker
are in tests/integration/test_api_refusals.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from producer_api.metrics import ApiMetrics
from producer_api.replies import NO_REASON, Refused, ReplyListener, refusal_of
from tests.fixtures.api import api_settings

pytestmark = pytest.mark.unit

EVENT = {"user_id": "u1", "action_id": "win_match", "event_id": "idem-abc"}


def headers(**values: str) -> list[tuple[str, bytes]]:
    return [(name.replace("_", "-"), value.encode()) for name, value in values.items()]


def applied(event_id: str, action_id: str = "win_match", new_score: int = 25, **extra: int) -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": "u1", "action_id": action_id, "points": 25,
                         "new_score": new_score, "applied_at": datetime(2026, 11, 26, tzinfo=UTC), **extra})


def test_the_event_id_header_wins_over_the_value() -> None:
    refused = refusal_of(headers(x_dlq_reason="idempotency key reused with action 'x'", x_event_id="idem-hdr"),
                         orjson.dumps(EVENT))
    assert refused == Refused("idem-hdr", "idempotency key reused with action 'x'", "win_match")


def test_without_the_header_the_event_id_comes_from_the_value() -> None:
    refused = refusal_of(headers(x_dlq_reason="total out of range", x_source_offset="7"), orjson.dumps(EVENT))
    assert refused == Refused("idem-abc", "total out of range", "win_match")


@pytest.mark.parametrize("value", [None, b"", b"not json", b"[1]", b'{"event_id": 5}', b'{"user_id": "u"}'])
def test_a_dead_letter_naming_no_event_is_nobodys_answer(value: bytes | None) -> None:
    assert refusal_of(headers(x_dlq_reason="value is not JSON"), value) is None


def test_a_placeholder_without_value_still_answers_by_its_header() -> None:
    refused = refusal_of(headers(x_event_id="idem-1", x_dlq_truncated="original 2000000 bytes"), None)
    assert refused == Refused("idem-1", NO_REASON, None)


def test_a_reason_that_is_not_utf8_or_too_long_is_made_safe() -> None:
    refused = refusal_of([("x-event-id", b"idem-1"), ("x-dlq-reason", b"bad \xff" + b"x" * 5000)], None)
    assert refused is not None and refused.reason.startswith("bad \ufffd") and len(refused.reason) == 1000
    orjson.dumps({"detail": refused.reason})  # encodable as an answer


async def test_an_answer_resolves_every_waiter_of_its_event_and_no_other() -> None:
    listener = ReplyListener(api_settings(), ApiMetrics())
    first, second = listener.register("idem-1", "win_match"), listener.register("idem-1", "win_match")
    other = listener.register("idem-2", "win_match")
    listener.resolve_applied(applied("idem-1"))
    assert first.result().new_score == second.result().new_score == 25  # type: ignore[union-attr]
    assert not other.done()
    listener.resolve_dead_letter(headers(x_dlq_reason="nope", x_event_id="idem-2"), orjson.dumps(EVENT))
    assert other.result() == Refused("idem-2", "nope", "win_match")
    for event_id, future in (("idem-1", first), ("idem-1", second), ("idem-2", other)):
        listener.discard(event_id, future)
    assert listener.pending == 0


async def test_one_key_sent_concurrently_for_two_actions_gets_each_request_its_own_outcome() -> None:
    """Same event id, two actions: the applied one gets the total, the other the refusal, in either order."""
    listener = ReplyListener(api_settings(), ApiMetrics())
    for refusal_first in (True, False):
        wins, logins = listener.register("idem-9", "win_match"), listener.register("idem-9", "daily_login")
        answers = [
            lambda: listener.resolve_dead_letter(
                headers(x_dlq_reason="idempotency key reused", x_event_id="idem-9"),
                orjson.dumps({**EVENT, "event_id": "idem-9", "action_id": "daily_login"})),
            lambda: listener.resolve_applied(applied("idem-9", "win_match")),
        ]
        for answer in answers if refusal_first else reversed(answers):
            answer()
        assert wins.result().new_score == 25  # type: ignore[union-attr]
        assert logins.result() == Refused("idem-9", "idempotency key reused", "daily_login")
        listener.discard("idem-9", wins)
        listener.discard("idem-9", logins)


def test_a_dead_letter_names_the_value_of_the_dead_record() -> None:
    lap = {**EVENT, "action_id": "lap_time_ms", "value": 61_234}
    assert refusal_of(headers(x_dlq_reason="r"), orjson.dumps(lap)) == Refused("idem-abc", "r", "lap_time_ms", 61_234)
    for odd in (True, "61234", 1.5):  # not an integer: the value says nothing
        refused = refusal_of(headers(x_dlq_reason="r"), orjson.dumps({**lap, "value": odd}))
        assert refused == Refused("idem-abc", "r", "lap_time_ms", None)


@pytest.mark.parametrize("worker_names_the_value", [True, False])
async def test_one_key_sent_concurrently_with_two_values_gets_each_request_its_own_outcome(
    worker_names_the_value: bool,
) -> None:
    """Same event id and value action, two values: the dead letter (the original record, value and all) answers
    only the request that sent its value; the applied answer answers the other, and — when score-applied names the
    value — only it, in either order."""
    listener = ReplyListener(api_settings(), ApiMetrics())
    reason = "idempotency key reused for user 'u1' with another value (10 first, now 20); use a new Idempotency-Key"
    extra = {"value": 10} if worker_names_the_value else {}
    orders = (True, False) if worker_names_the_value else (True,)  # silent about the value: refusal first only
    for refusal_first in orders:
        ten, twenty = listener.register("idem-7", "lap_time_ms", 10), listener.register("idem-7", "lap_time_ms", 20)
        answers = [
            lambda: listener.resolve_dead_letter(
                headers(x_dlq_reason=reason, x_event_id="idem-7"),
                orjson.dumps({**EVENT, "event_id": "idem-7", "action_id": "lap_time_ms", "value": 20})),
            lambda: listener.resolve_applied(applied("idem-7", "lap_time_ms", 0, **extra)),
        ]
        for answer in answers if refusal_first else reversed(answers):
            answer()
        assert ten.result().new_score == 0  # type: ignore[union-attr]
        assert twenty.result() == Refused("idem-7", reason, "lap_time_ms", 20)
        listener.discard("idem-7", ten)
        listener.discard("idem-7", twenty)


async def test_an_applied_answer_naming_another_value_is_not_the_answer() -> None:
    listener = ReplyListener(api_settings(), ApiMetrics())
    waiter = listener.register("idem-8", "lap_time_ms", 20)
    listener.resolve_applied(applied("idem-8", "lap_time_ms", 0, value=10))
    assert not waiter.done()
    listener.resolve_applied(applied("idem-8", "lap_time_ms", 0, value=20))
    assert waiter.done()
    listener.discard("idem-8", waiter)


async def test_a_dead_letter_of_unknown_action_answers_every_waiter_of_its_event() -> None:
    listener = ReplyListener(api_settings(), ApiMetrics())
    a, b = listener.register("idem-5", "win_match"), listener.register("idem-5", "daily_login")
    listener.resolve_dead_letter(headers(x_event_id="idem-5", x_dlq_reason="too large"), None)
    assert a.result() == b.result() == Refused("idem-5", "too large", None)


async def test_a_discarded_waiter_is_cancelled_and_later_answers_find_nobody() -> None:
    metrics = ApiMetrics()
    listener = ReplyListener(api_settings(), metrics)
    waiter = listener.register("idem-7", "win_match")
    assert listener.pending == 1
    listener.discard("idem-7", waiter)
    listener.discard("idem-7", waiter)  # twice is harmless
    assert waiter.cancelled() and listener.pending == 0
    listener.resolve_applied(applied("idem-7"))
    late = listener.register("idem-8")
    assert await listener.wait(late, 0.01) is None  # the timeout path
    listener.discard("idem-8", late)
    unreadable = "scoreboard_api_unreadable_replies_total"
    assert metrics.registry.get_sample_value(unreadable) == 0
    listener.resolve_applied(b"{not json")
    assert metrics.registry.get_sample_value(unreadable) == 1
