"""``EventStream``: the lean ASGI response behind ``GET /leaderboard/stream``.

Why not sse-starlette's ``EventSourceResponse`` here: per connection it runs an anyio task group of four or
five tasks (stream, ping timer, disconnect listener, exit-signal watcher, data sender) and opens an anyio
cancel scope for every send. At 5,000 clients that was about 55 KB per client and most of the per-delivery
CPU (``python -m bench --only fanout --profile``: uvicorn ``send`` under ``_send_with_timeout``, cancel scopes,
one ``Event.set`` and task wake-up per client per change). Here the request's own task only registers the
client with the broadcaster, which writes each change straight to the client's ``send``
(:mod:`sse_server.delivery`), and then waits for ``http.disconnect``. What the task group did is done once per
process: heartbeats by one tick for all clients (``send_heartbeats``); shutdown by one watcher of
sse-starlette's ``AppStatus.should_exit`` (set by its uvicorn exit hook, still used), which ends every stream
normally, so each response is completed rather than cut. The wire format is the one sse-starlette produced
(``\n`` line ends, ``retry:``, ``id:``/``event:``/``data:`` events, ``: ping`` comments, same headers).
"""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import parse_qsl

from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas.boards import GLOBAL
from schemas.leaderboard import Window
from sse_server.admission import StreamAdmission, client_address
from sse_server.broadcast import Broadcaster
from sse_server.delivery import END
from sse_server.standings_reads import BadParameter, check_user_id, default_window

PATH = "/leaderboard/stream"
HEADERS = {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


class EventStream(Response):
    """``text/event-stream`` of ``board``'s ``window``; ends when the client goes away or the server stops.
    Refused (``503``/``429`` with ``Retry-After``) past the stream caps (:mod:`sse_server.admission`)."""

    media_type = "text/event-stream"

    def __init__(self, broadcaster: Broadcaster, admission: StreamAdmission, window: Window,
                 last_event_id: str | None, retry_ms: int, user_id: str | None = None, board: str = GLOBAL) -> None:
        self.broadcaster = broadcaster
        self.admission = admission
        self.window = window
        self.board = board
        self.user_id = user_id
        self.last_event_id = last_event_id
        self.retry_ms = retry_ms
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_address(scope)
        refusal = self.admission.admit(client)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            await self._stream(scope, receive, send)
        finally:
            self.admission.release(client)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":  # headers only: an endless body would wedge the connection
            await send(END)
            return
        sub = self.broadcaster.subscribe(self.window, self.last_event_id, self.retry_ms, send, self.user_id,
                                         self.board)
        try:  # after the response is complete (shutdown) receive() also says http.disconnect
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            self.broadcaster.unsubscribe(sub)


async def end_streams_on_exit(broadcaster: Broadcaster, poll_s: float = 0.1) -> None:
    """Close every stream once the server is asked to stop (uvicorn's SIGINT/SIGTERM, through sse-starlette's
    hook), so that uvicorn's graceful shutdown finds the responses complete; runs for the app's lifetime."""
    while not AppStatus.should_exit:
        await asyncio.sleep(poll_s)
    broadcaster.close_all()


class StreamFastPath:
    """ASGI middleware serving ``GET``/``HEAD /leaderboard/stream`` straight from the lifespan state, without
    the per-request layers of the framework (exception middleware, router, dependency solving, exit stacks),
    which an open stream would otherwise hold for its whole life: about 9 KB per client, measured with
    tracemalloc. Only requests whose parameters are at most one each of ``board`` (a board defined here),
    ``window`` (one of that board's) and ``user_id`` (a valid one) are served here; anything else goes on to the
    FastAPI route, which answers it exactly as before (400 for a bad window or board). Added inside CORS, so
    CORS headers are applied as for every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream_for(scope) if scope["type"] == "http" and scope["path"] == PATH else None
        if stream is None:
            await self.app(scope, receive, send)
        else:
            await stream(scope, receive, send)

    @staticmethod
    def stream_for(scope: Scope) -> EventStream | None:
        """The stream this request gets on the fast path; None: the route answers it."""
        model = scope.get("state", {}).get("model")
        if model is None or scope["method"] not in ("GET", "HEAD"):
            return None
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if any(k not in ("window", "user_id", "board") for k, _ in params):
            return None  # period, anything else: the route decides (400 for what it cannot serve)
        boards = [v for k, v in params if k == "board"]
        if len(boards) > 1 or (boards and boards[0] not in model.boards):
            return None
        board = model.boards.get(boards[0] if boards else GLOBAL)
        windows = [v for k, v in params if k == "window"]
        if len(windows) > 1 or (windows and windows[0] not in board.windows):
            return None
        users = [v for k, v in params if k == "user_id"]
        if len(users) > 1:
            return None
        if users:
            try:  # user ids are UTF-8 text: anything else goes to the route, which answers 400
                users = [v for k, v in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True,
                                                 errors="strict") if k == "user_id"]
                check_user_id(users[0])
            except (BadParameter, UnicodeDecodeError):
                return None
        window = cast(Window, windows[0]) if windows else default_window(board)
        last_event_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"last-event-id"), None)
        return EventStream(model.broadcaster, model.admission, window, last_event_id, model.settings.sse_retry_ms,
                           users[0] if users else None, board.name)
