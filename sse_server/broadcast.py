"""Fan-out of board changes to SSE clients, built to scale with the number of clients.

- Each change of a window's board is serialized **once** into an SSE frame (``id:``, ``event:``, ``data:``)
  and that same bytes object is written to every client.
- Conflation: a client holds no queue, only a wake-up flag and the sequence number of the last frame it was
  sent. When it is woken it sends the window's *latest* frame. A slow or stalled client therefore skips
  intermediate boards (each event is the full state, so nothing is lost) and never holds more than one board.
- Clients register on connect and are removed in a ``finally`` when their stream ends (disconnect, shutdown).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.leaderboard import WINDOWS, Window
from sse_server.boards import BoardStore, current_board_id, window_of
from sse_server.metrics import SseMetrics

EVENT_NAME = "leaderboard_update"
SEP = "\n"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Frame:
    """One window's board, serialized once: ``body`` for ``GET /leaderboard``, ``event`` for SSE."""

    seq: int
    window: Window
    board: str
    version: int
    body: dict[str, Any]
    event: bytes


def encode_event(version: int, payload: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (version, EVENT_NAME.encode(), payload)


def should_send_initial(last_event_id: str | None, version: int) -> bool:
    """On connect: nothing is resent when the client's ``Last-Event-ID`` is the current version."""
    return last_event_id is None or last_event_id.strip() != str(version)


class Subscriber:
    """One open stream: a wake-up flag and the sequence number of the last frame sent (no queue)."""

    __slots__ = ("window", "wake", "last_seq", "closing")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.wake = asyncio.Event()
        self.last_seq = -1
        self.closing = False

    def close(self) -> None:
        """End the stream normally at its next wake-up (server shutdown): the response completes cleanly."""
        self.closing = True
        self.wake.set()


class Broadcaster:
    """Latest frame per window, the open streams per window, and the conflating per-client iterator."""

    def __init__(
        self, store: BoardStore, metrics: SseMetrics, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self._seq = itertools.count()
        self._subscribers: dict[Window, set[Subscriber]] = {w: set() for w in WINDOWS}
        now = clock()
        self._frames: dict[Window, Frame] = {w: self._build(w, now) for w in WINDOWS}

    def _build(self, window: Window, now: datetime) -> Frame:
        snapshot = self.store.current(window, now)
        body: dict[str, Any] = snapshot.model_dump(mode="json")
        self.metrics.frames_built.labels(window).inc()
        return Frame(
            seq=next(self._seq), window=window, board=current_board_id(window, now), version=snapshot.version,
            body=body, event=encode_event(snapshot.version, orjson.dumps(body)),
        )

    def _publish(self, window: Window, now: datetime) -> None:
        self._frames[window] = self._build(window, now)
        for sub in self._subscribers[window]:
            sub.wake.set()

    def board_changed(self, board: str) -> None:
        """The store's board ``board`` changed: publish it if a window currently shows it (or shows the empty
        stand-in, whose version follows the highest version seen for the window)."""
        window = window_of(board)
        now = self.clock()
        if window is not None:
            frame = self._frames[window]
            stand_in = frame.board not in self.store.boards
            stand_in = stand_in and frame.version != self.store.max_version[window]
            if stand_in or board == current_board_id(window, now):
                self._publish(window, now)
        self.sync(now)

    def sync(self, now: datetime | None = None) -> None:
        """Follow period rollovers: a window whose current board id changed is republished."""
        now = now or self.clock()
        for window in WINDOWS:
            if self._frames[window].board != current_board_id(window, now):
                self._publish(window, now)

    def frame(self, window: Window) -> Frame:
        self.sync()
        return self._frames[window]

    def client_count(self, window: Window | None = None) -> int:
        windows = WINDOWS if window is None else (window,)
        return sum(len(self._subscribers[w]) for w in windows)

    async def stream(
        self, window: Window, last_event_id: str | None, retry_ms: int, sub: Subscriber | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The bytes of one client's SSE stream: ``retry:``, the current board unless the client is current,
        then the latest board after each change (intermediate boards are skipped for slow clients), until
        the client goes away or ``sub.close()`` is called."""
        sub = sub or Subscriber(window)
        self._subscribers[window].add(sub)
        self.metrics.clients.labels(window).inc()
        sent = self.metrics.events_sent.labels(window)
        try:
            frame = self.frame(window)
            sub.last_seq = frame.seq
            yield b"retry: %d\n\n" % retry_ms
            if should_send_initial(last_event_id, frame.version):
                sent.inc()
                yield frame.event
            while True:
                await sub.wake.wait()
                sub.wake.clear()
                if sub.closing:
                    return
                frame = self._frames[window]
                if frame.seq != sub.last_seq:
                    sub.last_seq = frame.seq
                    sent.inc()
                    yield frame.event
        finally:
            self._subscribers[window].discard(sub)
            self.metrics.clients.labels(window).dec()


async def follow_periods(broadcaster: Broadcaster, interval: float = 1.0) -> None:
    """Republish the daily/weekly windows when the UTC day or ISO week rolls over (for the app's lifetime)."""
    while True:
        await asyncio.sleep(interval)
        broadcaster.sync()
