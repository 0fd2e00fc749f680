"""The fan-out: serialize once, conflate slow clients, ``Last-Event-ID``, rollover, cleanup (pure asyncio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from sse_server.boards import BoardStore
from sse_server.broadcast import Broadcaster, Subscriber, should_send_initial
from sse_server.metrics import SseMetrics
from tests.fixtures.sse import board_record, parse_sse

pytestmark = pytest.mark.unit

RETRY = 3000


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(now: datetime | None = None) -> tuple[BoardStore, Broadcaster, Clock]:
    clock = Clock(now or datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    store = BoardStore()
    return store, Broadcaster(store, SseMetrics(), clock), clock


def push(store: BoardStore, bc: Broadcaster, version: int, user: str = "a", window: str = "alltime",
         now: datetime | None = None) -> None:
    key, value = board_record(window, version, [(user, version)], now=now)  # type: ignore[arg-type]
    assert store.apply(key, value).outcome == "applied"
    bc.board_changed(key.decode())


async def take(stream: AsyncIterator[bytes]) -> tuple[str | None, int]:
    """Next event of a stream as (id, version in the data)."""
    ev = parse_sse((await anext(stream)).decode())
    return ev.id, ev.json()["version"]


@pytest.mark.parametrize(("last_event_id", "version", "send"), [
    (None, 5, True), ("5", 5, False), (" 5 ", 5, False), ("4", 5, True), ("6", 5, True), ("", 0, True),
    ("garbage", 5, True),
])
def test_last_event_id_decides_the_initial_event(last_event_id: str | None, version: int, send: bool) -> None:
    assert should_send_initial(last_event_id, version) is send


async def test_connect_sends_retry_then_the_current_board() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    stream = bc.stream("alltime", None, RETRY)
    assert parse_sse((await anext(stream)).decode()).retry == RETRY
    assert await take(stream) == ("3", 3)
    await stream.aclose()


async def test_current_last_event_id_gets_nothing_until_the_next_change() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    stream = bc.stream("alltime", "3", RETRY)
    await anext(stream)  # retry hint
    push(store, bc, 4)
    assert await take(stream) == ("4", 4)  # not 3 first
    await stream.aclose()


async def test_stale_last_event_id_gets_the_current_board_at_once() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    stream = bc.stream("alltime", "2", RETRY)
    await anext(stream)
    assert await take(stream) == ("3", 3)
    await stream.aclose()


async def test_slow_consumer_only_ever_sees_the_latest_board() -> None:
    store, bc, _ = make()
    push(store, bc, 1)
    stream = bc.stream("alltime", None, RETRY)
    await anext(stream)
    assert await take(stream) == ("1", 1)
    for version in range(2, 502):  # 500 changes while the client does not read
        push(store, bc, version)
    assert await take(stream) == ("501", 501)  # straight to the latest
    push(store, bc, 502)
    assert await take(stream) == ("502", 502)  # nothing in between was queued
    await stream.aclose()


async def test_each_change_is_serialized_once_for_all_clients() -> None:
    store, bc, _ = make()
    streams = [bc.stream("alltime", None, RETRY) for _ in range(50)]
    for s in streams:
        await anext(s)
        await anext(s)
    built = bc.metrics.frames_built.labels("alltime")._value.get()
    push(store, bc, 7)
    frames = [await anext(s) for s in streams]
    assert all(f is frames[0] for f in frames)  # the very same bytes object
    assert bc.metrics.frames_built.labels("alltime")._value.get() == built + 1
    for s in streams:
        await s.aclose()


async def test_other_windows_are_not_woken() -> None:
    store, bc, _ = make()
    daily = bc.stream("daily", None, RETRY)
    await anext(daily)
    first = await take(daily)
    push(store, bc, 9)  # alltime only
    push(store, bc, 2, window="daily", now=bc.clock())
    assert first == ("0", 0)
    assert await take(daily) == ("2", 2)
    await daily.aclose()


async def test_disconnect_removes_the_client() -> None:
    store, bc, _ = make()
    streams = [bc.stream("weekly", None, RETRY) for _ in range(3)]
    for s in streams:
        await anext(s)
    assert bc.client_count() == 3
    assert bc.metrics.clients.labels("weekly")._value.get() == 3
    for s in streams:
        await s.aclose()
    assert bc.client_count() == 0
    assert bc.metrics.clients.labels("weekly")._value.get() == 0


async def test_day_rollover_pushes_an_empty_board_without_going_back_in_version() -> None:
    store, bc, clock = make(datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC))
    push(store, bc, 17, window="daily", now=clock())
    stream = bc.stream("daily", None, RETRY)
    await anext(stream)
    assert await take(stream) == ("17", 17)
    clock.now += timedelta(seconds=2)
    bc.sync()
    ev = parse_sse((await anext(stream)).decode())
    assert ev.id == "17"
    assert ev.json()["data"] == [] and ev.json()["period"] == "2026-11-27"
    push(store, bc, 18, window="daily", now=clock())
    assert await take(stream) == ("18", 18)
    await stream.aclose()


async def test_closing_a_subscriber_ends_its_stream_normally() -> None:
    store, bc, _ = make()
    sub = Subscriber("alltime")
    stream = bc.stream("alltime", None, RETRY, sub)
    await anext(stream)
    await anext(stream)
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert bc.client_count() == 0
