"""``Subscriber``: one open SSE stream, written to without a task or a queue per client.

The broadcaster calls :meth:`Subscriber.offer` on every client of a channel when its frame changes (and on
heartbeats and shutdown). ``offer`` asks the broadcaster what the client lacks (the latest frame, a ping, the
end) and starts the ASGI ``send`` right there, *eagerly*: with uvicorn a send to a socket that takes the
bytes finishes without suspending, so a delivery is one call and one socket write; no task wakes up and no
per-client coroutine chain is resumed. That was most of the per-delivery CPU when every client had its own
streaming task (``python -m bench --only fanout --profile``).

A send that does suspend (the client's socket buffer is full: a slow or stalled client) is finished in a
small task. While it is in flight further offers only mark the client *pending*; when it completes the
client is sent the latest frame, never the ones in between (conflation: a client holds at most one board, and
the bytes are the frame shared by every client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from typing import Any

from starlette.types import Message, Send

from schemas.leaderboard import Window

log = logging.getLogger(__name__)

END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


def body(chunk: bytes) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


class _Resume:
    """Await the rest of a send whose first step suspended on ``waiting``, exactly as a task would have."""

    __slots__ = ("steps", "waiting")

    def __init__(self, steps: Generator[Any, None, Any], waiting: Any) -> None:
        self.steps = steps
        self.waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self.waiting
        while True:
            try:
                yield waiting
            except BaseException as exc:  # noqa: BLE001 - handed to the send, as a task would
                try:
                    waiting = self.steps.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting = self.steps.send(None)
                except StopIteration:
                    return


class Subscriber:
    """One open stream: its ASGI ``send``, what it was last sent, and whether a send is in flight."""

    __slots__ = ("window", "board", "send", "due", "last_seq", "pings", "busy", "pending", "closing", "done",
                 "task", "user_id", "standing", "standing_due")

    def __init__(self, window: Window, send: Send, due: Callable[[Subscriber], Message | None],
                 user_id: str | None = None, board: str = "global") -> None:
        self.window = window
        self.board = board  # the board followed (with ``window``: the stream's channel)
        self.user_id = user_id  # a personal stream: also sent this user's standing (sse_server.personal)
        self.standing: tuple[Any, Any] = (None, None)  # (rank, score) last sent
        self.standing_due: bytes | None = None  # a standing event not sent yet
        self.send = send
        self.due = due  # what this client lacks now (None: nothing), consumed when returned
        self.last_seq = -1
        self.pings = 0
        self.busy = False
        self.pending = False
        self.closing = False
        self.done = False
        self.task: asyncio.Task[None] | None = None

    def offer(self) -> None:
        """Send what the client lacks now, or note that it lacks something once its current send is done."""
        if self.busy:
            self.pending = True
            return
        if self.done:
            return
        message = self.due(self)
        if message is not None:
            self.write(message)

    def close(self) -> None:
        """End the stream normally (after any send in flight): the response is completed, not cut."""
        self.closing = True
        self.offer()

    def stop(self) -> None:
        """The stream is over (the client went away): send nothing more."""
        self.done = True
        if self.task is not None:
            self.task.cancel()

    def write(self, message: Message) -> None:
        if not message["more_body"]:
            self.done = True
        try:
            steps = self.send(message).__await__()
            waiting = steps.send(None)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - a broken connection ends this stream only
            log.debug("sse: send failed; ending the stream", exc_info=True)
            self.done = True
            return
        self.busy = True
        self.task = asyncio.ensure_future(self._finish(_Resume(steps, waiting)))

    async def _finish(self, rest: _Resume) -> None:
        try:
            await rest
        except Exception:  # noqa: BLE001 - a broken connection ends this stream only
            log.debug("sse: send failed; ending the stream", exc_info=True)
            self.done = True
        finally:
            self.busy = False
            self.task = None
        if self.pending:
            self.pending = False
            self.offer()
