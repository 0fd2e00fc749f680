"""The fan-out: serialize once, conflate slow clients, ``Last-Event-ID``, heartbeats, rollover, cleanup
(pure asyncio: each client is an in-memory ASGI ``send`` that records the chunks it is given)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent
from starlette.types import Message

from sse_server.boards import BoardStore
from sse_server.broadcast import Broadcaster, should_send_initial
from sse_server.delivery import Subscriber
from sse_server.metrics import SseMetrics
from tests.fixtures.sse import board_record, poll

pytestmark = pytest.mark.unit

RETRY = 3000
DELIVERED_S = 5.0  # a bound for a send already released to finish: a few loop turns, in fact


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Sink:
    """An ASGI ``send`` that records body chunks; ``gate`` (when set) makes every send wait until it opens."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.chunks: list[bytes] = []
        self.ended = False
        self.read = 0

    async def __call__(self, message: Message) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if message["body"]:
            self.chunks.append(message["body"])
        if not message["more_body"]:
            self.ended = True

    def received(self) -> bytes:
        """The bytes received since the last call (of this or ``events``)."""
        raw = b"".join(self.chunks[self.read:])
        self.read = len(self.chunks)
        return raw

    def events(self) -> list[ServerSentEvent]:
        """The SSE events received since the last call, decoded by httpx-sse as a client would."""
        stream = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=self.received())
        return list(EventSource(stream).iter_sse())

    def got(self, marker: bytes) -> bool:
        """``marker`` is in what was received (read or not)."""
        return any(marker in chunk for chunk in self.chunks)


def make(now: datetime | None = None) -> tuple[BoardStore, Broadcaster, Clock]:
    clock = Clock(now or datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    store = BoardStore()
    return store, Broadcaster(store, SseMetrics(), clock), clock


def push(store: BoardStore, bc: Broadcaster, version: int, user: str = "a", window: str = "alltime",
         now: datetime | None = None) -> None:
    key, value = board_record(window, version, [(user, version)], now=now)  # type: ignore[arg-type]
    assert store.apply(key, value).outcome == "applied"
    bc.board_changed(key.decode())


def updates(sink: Sink) -> list[tuple[str | None, int]]:
    """The new ``leaderboard_update`` events of a client as (id, version in the data)."""
    return [(ev.id, ev.json()["version"]) for ev in sink.events() if ev.event == "leaderboard_update"]


def connect(bc: Broadcaster, window: str = "alltime", last_event_id: str | None = None,
            sink: Sink | None = None) -> tuple[Sink, Subscriber]:
    sink = sink or Sink()
    return sink, bc.subscribe(window, last_event_id, RETRY, sink)  # type: ignore[arg-type]


@pytest.mark.parametrize(("last_event_id", "version", "send"), [
    (None, 5, True), ("5", 5, False), (" 5 ", 5, False), ("4", 5, True), ("6", 5, True), ("", 0, True),
    ("garbage", 5, True),
])
def test_last_event_id_decides_the_initial_event(last_event_id: str | None, version: int, send: bool) -> None:
    assert should_send_initial(last_event_id, version) is send


async def test_connect_sends_retry_then_the_current_board() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    sink, _ = connect(bc)
    first, board = sink.events()
    assert (first.retry, first.data, first.id) == (RETRY, "", "")  # the retry hint alone, no board
    assert (board.event, board.id, board.json()["version"]) == ("leaderboard_update", "3", 3)


async def test_current_last_event_id_gets_nothing_until_the_next_change() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    sink, _ = connect(bc, last_event_id="3")
    assert [ev.retry for ev in sink.events()] == [RETRY]  # the retry hint only, not board 3
    push(store, bc, 4)
    assert updates(sink) == [("4", 4)]


async def test_stale_last_event_id_gets_the_current_board_at_once() -> None:
    store, bc, _ = make()
    push(store, bc, 3)
    sink, _ = connect(bc, last_event_id="2")
    assert updates(sink) == [("3", 3)]


async def test_slow_consumer_only_ever_sees_the_latest_board() -> None:
    store, bc, _ = make()
    push(store, bc, 1)
    gate = asyncio.Event()
    sink, sub = connect(bc, sink=Sink(gate))  # its very first send already waits
    for version in range(2, 502):  # 500 changes while the client does not read
        push(store, bc, version)
    assert sub.busy and sink.chunks == []
    gate.set()
    await poll(lambda: sink.got(b"id: 501\n") and not sub.busy, DELIVERED_S, "the latest board sent", 0.001)
    assert updates(sink) == [("1", 1), ("501", 501)]  # straight to the latest: nothing in between was queued
    push(store, bc, 502)
    await poll(lambda: sink.got(b"id: 502\n") and not sub.busy, DELIVERED_S, "board 502 sent", 0.001)
    assert updates(sink) == [("502", 502)]
    bc.unsubscribe(sub)


async def test_each_change_is_serialized_once_for_all_clients() -> None:
    store, bc, _ = make()
    sinks = [connect(bc)[0] for _ in range(50)]
    built = bc.metrics.frames_built.labels("alltime")._value.get()
    push(store, bc, 7)
    frames = [s.chunks[-1] for s in sinks]
    assert all(f is frames[0] for f in frames)  # the very same bytes object
    assert bc.metrics.frames_built.labels("alltime")._value.get() == built + 1
    assert bc.metrics.events_sent.labels("alltime")._value.get() == 100  # 50 on connect, 50 for version 7


async def test_other_windows_are_not_sent_to() -> None:
    store, bc, clock = make()
    daily, _ = connect(bc, "daily")
    day_start = us(clock().replace(hour=0))
    assert updates(daily) == [(str(day_start), day_start)]  # the day's empty board
    push(store, bc, 9)  # alltime only
    assert updates(daily) == []
    push(store, bc, us(clock()), window="daily", now=clock())
    assert updates(daily) == [(str(us(clock())), us(clock()))]


async def test_heartbeat_sends_every_client_one_ping_comment() -> None:
    store, bc, _ = make()
    sinks = [connect(bc, window)[0] for window in ("alltime", "daily", "weekly")]
    for sink in sinks:
        sink.received()
    bc.heartbeat()
    for sink in sinks:
        assert sink.received() == b": ping\n\n"  # a comment: no event, no id (an SSE client shows nothing)


async def test_disconnect_removes_the_client() -> None:
    store, bc, _ = make()
    subs = [connect(bc, "weekly")[1] for _ in range(3)]
    assert bc.client_count() == 3
    assert bc.metrics.clients.labels("weekly")._value.get() == 3
    for sub in subs:
        bc.unsubscribe(sub)
    assert bc.client_count() == 0
    assert bc.metrics.clients.labels("weekly")._value.get() == 0


def us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@pytest.mark.parametrize(("before", "window", "period", "start"), [
    (datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC), "daily", "2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
    (datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC), "weekly", "2026-W49", datetime(2026, 11, 30, tzinfo=UTC)),
])
async def test_a_period_change_sends_the_new_periods_empty_board_under_a_version_of_its_own(
    before: datetime, window: str, period: str, start: datetime,
) -> None:
    """The issue: at midnight the daily board kept yesterday's version, so a page that slept through midnight and
    reconnected with that id was told it was current and kept yesterday's rows."""
    store, bc, clock = make(before)
    old = us(before)
    push(store, bc, old, window=window, now=clock())
    sink, _ = connect(bc, window)
    assert updates(sink) == [(str(old), old)]
    clock.now = start + timedelta(milliseconds=400)
    bc.sync()  # the period follower's tick: no event and no request needed
    [ev] = sink.events()
    assert ev.id == str(us(start)) and ev.json()["version"] == us(start) > old
    assert ev.json()["data"] == [] and ev.json()["period"] == period
    assert bc.frame(window).version == us(start)  # GET says the same
    slept, _ = connect(bc, window, last_event_id=str(old))  # a client holding the old period's id
    assert updates(slept) == [(str(us(start)), us(start))]
    current, _ = connect(bc, window, last_event_id=str(us(start)))
    assert updates(current) == []
    # the worker's own empty board of the new period carries the same version: nobody gets it twice
    key, value = board_record(window, us(start), [], now=clock())  # type: ignore[arg-type]
    assert store.apply(key, value).outcome == "applied"
    bc.board_changed(key.decode())
    assert updates(sink) == [] and updates(current) == []
    push(store, bc, us(clock()), window=window, now=clock())  # the period's first score
    assert updates(sink) == [(str(us(clock())), us(clock()))]


async def test_close_all_ends_every_stream_normally_after_the_send_in_flight() -> None:
    store, bc, _ = make()
    push(store, bc, 1)
    fast, _ = connect(bc)
    gate = asyncio.Event()
    slow, slow_sub = connect(bc, sink=Sink(gate))
    bc.close_all()
    assert fast.ended and not slow.ended
    gate.set()
    await poll(lambda: slow.ended, DELIVERED_S, "the slow stream ended", 0.001)
    assert updates(slow) == [("1", 1)]  # its pending board first, then the end
    late, _ = connect(bc)
    assert late.ended  # a stream opened during shutdown ends at once
