"""Fan-out of board changes to SSE clients, built to scale with the number of clients.

- A stream follows one *channel*: a board (``board=``, default ``global``) and one of its windows. Each change of
  a channel's board is serialized **once** into an SSE frame (``id:``, ``event:``, ``data:``) and that same bytes
  object is written to every client of the channel; clients of other boards are not touched.
- Delivery: a change is written to each client of the channel right away by :mod:`sse_server.delivery` (no
  task and no queue per client). A client holds only the sequence number of the last frame it was sent and
  is always sent the channel's *latest* frame; a slow or stalled client therefore skips intermediate boards
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

from schemas.boards import GLOBAL
from schemas.leaderboard import Window
from sse_server.boards import BoardStore, Channel
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
    """One channel's board, serialized once: ``body`` for ``GET /leaderboard``, ``event`` for SSE and
    ``message``, the ASGI message carrying ``event`` (one dict shared by every client; servers only read it).
    ``board`` is the board key shown (``daily:2026-11-26``, ``mode-x/weekly:2026-W48``)."""

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
    """Latest frame per channel (board and window), the open streams per channel, and what each stream lacks."""

    def __init__(
        self, store: BoardStore, metrics: SseMetrics, clock: Callable[[], datetime] = utc_now,
        players: Callable[[str], int] = lambda _board: 0, personal: PersonalStandings | None = None,
    ) -> None:
        self.store = store
        self.definitions = store.definitions
        self.is_final: Callable[[str], bool] = lambda _board: False  # set when finals are read (leaderboard-final)
        self.players = players  # board id -> its number of players (the rank index), for ``total_players``
        self.personal = personal
        self.metrics = metrics
        self.clock = clock
        self._seq = itertools.count()
        channels = [(b.name, w) for b in self.definitions for w in b.windows]
        self._subscribers: dict[Channel, set[Subscriber]] = {c: set() for c in channels}
        self._pings = 0
        self._sent: Counter[Window] = Counter()  # events sent, added to the metric once per fan-out
        self.closed = False
        now = clock()
        self._frames: dict[Channel, Frame] = {c: self._build(c, now) for c in channels}

    def _build(self, channel: Channel, now: datetime) -> Frame:
        name, window = channel
        snapshot = self.store.current(window, now, name)
        board = self.definitions.current_key(name, window, now)
        # the rank index is fed by another topic and may be a batch behind the board: never fewer than its rows
        players = max(self.players(board), len(snapshot.data))
        data: dict[str, Any] = {**snapshot.model_dump(mode="json"), **period_fields(board, self.definitions),
                                "board": name, "total_players": players}
        self.metrics.frames_built.labels(window).inc()
        event = encode_event(snapshot.version, orjson.dumps(data))
        return Frame(
            seq=next(self._seq), window=window, board=board, version=snapshot.version,
            body=data, event=event, message=body(event),
        )

    def _publish(self, channel: Channel, now: datetime) -> None:
        frame, old = self._build(channel, now), self._frames[channel]
        if (frame.board, frame.version, frame.body["data"]) == (old.board, old.version, old.body["data"]):
            return  # the same state under the same id (the worker's empty board of a period, after its stand-in)
        self._frames[channel] = frame
        for sub in list(self._subscribers[channel]):
            sub.offer()
        self._count_sent()

    def board_changed(self, board: str) -> None:
        """The store's board key ``board`` changed: publish it if its channel currently shows it (or shows the
        empty stand-in, whose version follows the highest version seen for the channel)."""
        now = self.clock()
        try:
            parts = self.definitions.parse(board)
        except ValueError:
            parts = None
        if parts is not None:
            channel = (parts.board.name, parts.window)
            frame = self._frames[channel]
            stand_in = frame.board not in self.store.boards  # its version follows the channel's highest
            if stand_in or board == self.definitions.current_key(*channel, now):
                self._publish(channel, now)
        self.sync(now)

    def sync(self, now: datetime | None = None) -> None:
        """Follow period rollovers: a channel whose current board key changed is republished."""
        now = now or self.clock()
        for channel in self._frames:
            self._sync(channel, now)

    def _sync(self, channel: Channel, now: datetime) -> None:
        if self._frames[channel].board != self.definitions.current_key(*channel, now):
            self._publish(channel, now)

    def keeps(self, board: str) -> bool:
        """Whether a board (any period) is held: emitted by the worker and not removed (tombstone, retention)."""
        return board in self.store.boards

    def body_of(self, board: str) -> dict[str, Any] | None:
        """A held board's body (a past period's, typically), as ``GET /leaderboard`` serves it; None if not held."""
        snapshot = self.store.boards.get(board)
        if snapshot is None:
            return None
        return {**snapshot.model_dump(mode="json"), **period_fields(board, self.definitions),
                "board": snapshot.board, "total_players": self.players(board)}

    def periods(self, window: Window, board: str = GLOBAL) -> list[dict[str, Any]]:
        """The periods of the board's window held (and the current one), newest first, with their bounds and
        final flag."""
        now = self.clock()
        keys = {self.definitions.current_key(board, window, now)}
        for key in self.store.boards:
            parts = self.definitions.parse(key)  # held keys were parsed when applied
            if parts.board.name == board and parts.window == window:
                keys.add(key)
        out = []
        for key in sorted(keys, key=lambda k: period_fields(k, self.definitions)["period_start"], reverse=True):
            fields = period_fields(key, self.definitions)
            out.append({"period": self.definitions.parse(key).period, "start": fields["period_start"],
                        "end": fields["period_end"], "final": self.is_final(key)})
        return out

    def frame(self, window: Window, board: str = GLOBAL) -> Frame:
        """The channel's current frame (republished first if its period has just rolled over)."""
        channel = (board, window)
        self._sync(channel, self.clock())
        return self._frames[channel]

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

    def client_count(self, window: Window | None = None, board: str | None = None) -> int:
        return sum(len(subs) for (name, w), subs in self._subscribers.items()
                   if (window is None or w == window) and (board is None or name == board))

    def subscribe(self, window: Window, last_event_id: str | None, retry_ms: int, send: Send,
                  user_id: str | None = None, board: str = GLOBAL) -> Subscriber:
        """Open a stream of ``board``'s ``window`` on ``send`` (the response has started): the ``retry:`` hint
        and the current board, unless ``Last-Event-ID`` says the client has it, then every change until
        ``unsubscribe``; with ``user_id``, that user's ``standing`` at once and whenever it moves
        (:mod:`sse_server.personal`)."""
        frame = self.frame(window, board)
        sub = Subscriber(window, send, self._due, user_id, board)
        sub.last_seq, sub.pings = frame.seq, self._pings
        self._subscribers[(board, window)].add(sub)
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
        subs = self._subscribers[(sub.board, sub.window)]
        if sub in subs:
            subs.discard(sub)
            self.metrics.clients.labels(sub.window).dec()

    def _due(self, sub: Subscriber) -> Message | None:
        """What ``sub`` lacks now (marked as sent): the end, the latest frame, a ping, or nothing."""
        if sub.closing:
            return END
        frame = self._frames[(sub.board, sub.window)]
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
    """Republish a board's windowed channels when its day, ISO week or month rolls over (in the board's zone),
    and forget the rank index's boards past the retention (for the app's lifetime)."""
    while True:
        await asyncio.sleep(interval)
        broadcaster.sync()
        if index is not None:
            index.prune(broadcaster.clock())
