"""Fan-out of board changes to SSE clients, built to scale with the number of clients.

- Each change of a window's board is serialized **once** into an SSE frame (``id:``, ``event:``, ``data:``)
  and that same bytes object is written to every client.
- Delivery: a change is written to each client of the window right away by :mod:`sse_server.delivery` (no
  task and no queue per client). A client holds only the sequence number of the last frame it was sent and
  is always sent the window's *latest* frame; a slow or stalled client therefore skips intermediate boards
  (each event is the full state, so nothing is lost) and never holds more than one board.
- Heartbeats come from one process-wide tick (:meth:`Broadcaster.heartbeat`), not a timer per client: each
  tick sends every client one ``: ping`` comment.
- Clients are registered by :meth:`Broadcaster.subscribe` on connect and removed by ``unsubscribe`` when the
  client goes away; :meth:`Broadcaster.close_all` ends every stream normally (server shutdown).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Message, Send

from schemas.leaderboard import WINDOWS, Window
from schemas.standings import BOARD
from sse_server.boards import BoardStore, current_board_id, window_of
from sse_server.delivery import END, Subscriber, body
from sse_server.metrics import SseMetrics
from sse_server.personal import PersonalStandings
from sse_server.standings import StandingsIndex
from sse_server.standings_reads import period_fields

EVENT_NAME = "leaderboard_update"
PING = b": ping\n\n"
PING_MESSAGE = body(PING)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Frame:
    """One window's board, serialized once: ``body`` for ``GET /leaderboard``, ``event`` for SSE and
    ``message``, the ASGI message carrying ``event`` (one dict shared by every client; servers only read it)."""

    seq: int
    window: Window
    board: str
    version: int
    body: dict[str, Any]
    event: bytes
    message: Message


def encode_event(version: int, payload: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (version, EVENT_NAME.encode(), payload)


def should_send_initial(last_event_id: str | None, version: int) -> bool:
    """On connect: nothing is resent when the client's ``Last-Event-ID`` is the current version."""
    return last_event_id is None or last_event_id.strip() != str(version)


class Broadcaster:
    """Latest frame per window, the open streams per window, and what each stream lacks."""

    def __init__(
        self, store: BoardStore, metrics: SseMetrics, clock: Callable[[], datetime] = utc_now,
        players: Callable[[str], int] = lambda _board: 0, personal: PersonalStandings | None = None,
    ) -> None:
        self.store = store
        self.is_final: Callable[[str], bool] = lambda _board: False  # set when finals are read (leaderboard-final)
        self.players = players  # board id -> its number of players (the rank index), for ``total_players``
        self.personal = personal
        self.metrics = metrics
        self.clock = clock
        self._seq = itertools.count()
        self._subscribers: dict[Window, set[Subscriber]] = {w: set() for w in WINDOWS}
        self._pings = 0
        self._sent: Counter[Window] = Counter()  # events sent, added to the metric once per fan-out
        self.closed = False
        now = clock()
        self._frames: dict[Window, Frame] = {w: self._build(w, now) for w in WINDOWS}

    def _build(self, window: Window, now: datetime) -> Frame:
        snapshot = self.store.current(window, now)
        board = current_board_id(window, now)
        # the rank index is fed by another topic and may be a batch behind the board: never fewer than its rows
        players = max(self.players(board), len(snapshot.data))
        data: dict[str, Any] = {**snapshot.model_dump(mode="json"), **period_fields(board), "board": BOARD,
                                "total_players": players}
        self.metrics.frames_built.labels(window).inc()
        event = encode_event(snapshot.version, orjson.dumps(data))
        return Frame(
            seq=next(self._seq), window=window, board=board, version=snapshot.version,
            body=data, event=event, message=body(event),
        )

    def _publish(self, window: Window, now: datetime) -> None:
        frame, old = self._build(window, now), self._frames[window]
        if (frame.board, frame.version, frame.body["data"]) == (old.board, old.version, old.body["data"]):
            return  # the same state under the same id (the worker's empty board of a period, after its stand-in)
        self._frames[window] = frame
        for sub in list(self._subscribers[window]):
            sub.offer()
        self._count_sent()

    def board_changed(self, board: str) -> None:
        """The store's board ``board`` changed: publish it if a window currently shows it (or shows the empty
        stand-in, whose version follows the highest version seen for the window)."""
        window = window_of(board)
        now = self.clock()
        if window is not None:
            frame = self._frames[window]
            stand_in = frame.board not in self.store.boards  # its version follows the window's highest
            if stand_in or board == current_board_id(window, now):
                self._publish(window, now)
        self.sync(now)

    def sync(self, now: datetime | None = None) -> None:
        """Follow period rollovers: a window whose current board id changed is republished."""
        now = now or self.clock()
        for window in WINDOWS:
            if self._frames[window].board != current_board_id(window, now):
                self._publish(window, now)

    def keeps(self, board: str) -> bool:
        """Whether a board (any period) is held: emitted by the worker and not removed (tombstone, retention)."""
        return board in self.store.boards

    def body_of(self, board: str) -> dict[str, Any] | None:
        """A held board's body (a past period's, typically), as ``GET /leaderboard`` serves it; None if not held."""
        snapshot = self.store.boards.get(board)
        if snapshot is None:
            return None
        return {**snapshot.model_dump(mode="json"), **period_fields(board), "board": BOARD,
                "total_players": self.players(board)}

    def periods(self, window: Window) -> list[dict[str, Any]]:
        """The window's periods held (and the current one), newest first, with their bounds and final flag."""
        now = self.clock()
        ids = {b for b in self.store.boards if window_of(b) == window} | {current_board_id(window, now)}
        out = []
        for board in sorted(ids, key=lambda b: period_fields(b)["period_start"], reverse=True):
            fields = period_fields(board)
            out.append({"period": board.partition(":")[2], "start": fields["period_start"],
                        "end": fields["period_end"], "final": self.is_final(board)})
        return out

    def frame(self, window: Window) -> Frame:
        self.sync()
        return self._frames[window]

    def heartbeat(self) -> None:
        """Send every client one ``: ping`` comment (called every ``SCOREBOARD_SSE_HEARTBEAT_S``)."""
        self._pings += 1
        for subs in self._subscribers.values():
            for sub in list(subs):
                sub.offer()
        self._count_sent()

    def close_all(self) -> None:
        """End every open stream normally, and any stream opened later at once (server shutdown)."""
        self.closed = True
        for subs in self._subscribers.values():
            for sub in list(subs):
                sub.close()

    def client_count(self, window: Window | None = None) -> int:
        windows = WINDOWS if window is None else (window,)
        return sum(len(self._subscribers[w]) for w in windows)

    def subscribe(self, window: Window, last_event_id: str | None, retry_ms: int, send: Send,
                  user_id: str | None = None) -> Subscriber:
        """Open a stream on ``send`` (the response has started): the ``retry:`` hint and the current board,
        unless ``Last-Event-ID`` says the client has it, then every change until ``unsubscribe``; with
        ``user_id``, that user's ``standing`` at once and whenever it moves (:mod:`sse_server.personal`)."""
        frame = self.frame(window)
        sub = Subscriber(window, send, self._due, user_id)
        sub.last_seq, sub.pings = frame.seq, self._pings
        self._subscribers[window].add(sub)
        self.metrics.clients.labels(window).inc()
        first = b"retry: %d\n\n" % retry_ms
        if should_send_initial(last_event_id, frame.version):
            first += frame.event
            self._sent[window] += 1
            self._count_sent()
        if user_id is not None and self.personal is not None:
            first += self.personal.first(sub)
        sub.write(body(first))
        if self.closed:
            sub.close()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """The client went away: forget it."""
        sub.stop()
        if self.personal is not None:
            self.personal.discard(sub)
        if sub in self._subscribers[sub.window]:
            self._subscribers[sub.window].discard(sub)
            self.metrics.clients.labels(sub.window).dec()

    def _due(self, sub: Subscriber) -> Message | None:
        """What ``sub`` lacks now (marked as sent): the end, the latest frame, a ping, or nothing."""
        if sub.closing:
            return END
        frame = self._frames[sub.window]
        ping = sub.pings != self._pings
        sub.pings = self._pings
        standing, sub.standing_due = sub.standing_due or b"", None
        if frame.seq != sub.last_seq:
            sub.last_seq = frame.seq
            self._sent[sub.window] += 1
            return body(frame.event + standing + PING) if ping or standing else frame.message
        if standing:
            return body(standing + PING) if ping else body(standing)
        return PING_MESSAGE if ping else None

    def _count_sent(self) -> None:
        for window, count in self._sent.items():
            if count:
                self.metrics.events_sent.labels(window).inc(count)
        self._sent.clear()


async def send_heartbeats(broadcaster: Broadcaster, interval: float) -> None:
    """One heartbeat tick for every client every ``interval`` seconds (for the app's lifetime)."""
    while True:
        await asyncio.sleep(interval)
        broadcaster.heartbeat()


async def follow_periods(broadcaster: Broadcaster, index: StandingsIndex | None = None, interval: float = 1.0) -> None:
    """Republish the daily/weekly windows when the UTC day or ISO week rolls over, and forget the rank index's
    boards past the retention (for the app's lifetime)."""
    while True:
        await asyncio.sleep(interval)
        broadcaster.sync()
        if index is not None:
            index.prune(broadcaster.clock())
