"""uvicorn's httptools protocol with two bounds it lacks: a deadline on receiving a request, and a bound on the
size of its headers.

Every use of uvicorn's internals is here, against pinned versions (``PINNED``), with the source hash of each
upstream function it overrides or relies on (``UPSTREAM``); ``tests/unit/test_uvicorn_internals.py`` fails when
either changes: an upgrade is a deliberate act — read the new source, adapt, update the hashes.

Why (issue 16, measured on uvicorn 0.54.0 + httptools 0.9.0, the versions pinned):

- **No deadline on receiving a request (slowloris).** uvicorn's only read timeout is ``timeout_keep_alive``, armed
  after a response and cancelled by the first byte of anything (``data_received`` starts with
  ``_unset_keepalive_if_required``); a fresh connection has no timer at all. 1,000 connections sending partial
  headers were all still open after 40 s, each holding a socket and a descriptor; a body sent a byte at a time
  holds the app's request as well. Here a deadline (``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S``) is armed at
  ``connection_made`` and whenever data arrives on an idle connection (no response in progress), and cancelled
  when the request is complete (``on_message_complete``: line, headers and body): a response, however long (an
  SSE stream), is never cut. Past it the connection is closed, after a ``408`` if part of a request had come and
  its response had not begun (a connection that sent nothing is closed silently, as uvicorn's keep-alive timeout
  does).
- **No bound on header size.** httptools (llhttp) has none, and it accumulates a header's value by concatenating
  bytes: a 32 MB header was read whole before the app saw the request (+57 MB RSS, a 1.1 s stall). Here the
  bytes of a request line and headers are counted *before* the parser gets them and the parser is fed no more
  than ``SCOREBOARD_HTTP_MAX_HEADER_BYTES``; one byte more and the answer is ``431`` and the connection is
  closed. A chunk carrying the end of the headers and then body bytes is fed in two steps, so a body (bounded by
  the app) never counts as headers. Bytes of a pipelined next request that arrive in the same read as the end of
  the previous one are not counted (at most one read, 256 KiB with uvloop).
- **No bound on pipelined requests.** uvicorn queues every request parsed while a response is running and parses
  a whole read at once (~7,700 tiny requests in 256 KiB), resuming reading after each response: one connection
  pipelining ``GET /healthz`` without reading answers took the write API from 93 to 553 MB (past its 512 MiB
  Kubernetes limit), kept after it closed. Here a connection with more than ``MAX_PIPELINED`` requests queued is
  closed, and the rest of that read builds no request (``on_headers_complete``, ``on_body`` and
  ``on_message_complete`` do nothing on a closing connection). Browsers and HTTP clients do not pipeline.

Internals used: the protocol's ``parser``, ``transport``, ``cycle`` (``RequestResponseCycle.response_started`` and
``response_complete``), ``loop``, ``logger``, ``client`` and ``server_state.default_headers`` attributes, and the
hooks ``connection_made``, ``connection_lost``, ``data_received``, ``on_headers_complete``, ``on_body``,
``on_message_complete``, and the ``pipeline`` queue; uvicorn's server builds the protocol class it is given
(``Config(http=<class>)``) with ``config``, ``server_state``, ``app_state``, ``_loop``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schemas.runtime.pinning import drift as pinned_drift
from schemas.runtime.pinning import source_hash as source_hash  # the tests hash with it

PINNED = {"uvicorn": "0.54.0", "httptools": "0.9.0"}

# "module:qualname" of each upstream function overridden or relied on here -> sha256[:16] of its source
UPSTREAM = {
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.__init__": "4f08999410347141",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.connection_made": "6efb565ff3d36b91",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.connection_lost": "c91a4c9bf2e29c55",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.data_received": "010a7ae59a5d3b1a",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_message_begin": "96d377fdc7c2baef",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_headers_complete": "1ea8589acfad92d8",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_body": "dba9c32aeba35b6a",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_message_complete": "1fbad42dc31fc01f",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_response_complete": "64e254f28e389e76",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.send_400_response": "ae5a4a3782b646fd",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol._unset_keepalive_if_required": "00a6a4e47214e68e",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.timeout_keep_alive_handler": "8b53bf5f2e202970",
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.shutdown": "d7351fa33f00d430",
    "uvicorn.server:Server.startup": "2aa1d70a244bfcf2",
    "uvicorn.config:Config.load": "92b7159dce105a9c",
}


def drift() -> list[str]:
    """What differs from what this module was written against (empty: nothing)."""
    return pinned_drift(PINNED, UPSTREAM)


def _answer(status: bytes, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = [b"HTTP/1.1 " + status + b"\r\n"]
    head += [name + b": " + value + b"\r\n" for name, value in default_headers]
    head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
             b"connection: close\r\n\r\n"]
    return b"".join(head) + body


MAX_PIPELINED = 32  # requests queued behind a running response on one connection


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline and a header size bound (see the module)."""

    request_timeout_s = 10.0
    max_header_bytes = 32 * 1024
    max_pipelined = MAX_PIPELINED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0  # bytes of the current request line and headers fed so far
        self.reading_headers = True  # from the start of a request until its headers are complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_headers and self.request_deadline is None and (
                self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first byte on an idle keep-alive connection: this request is now due
        while data and self.reading_headers:
            room = self.max_header_bytes - self.header_bytes
            if room <= 0:
                self._close_with(b"431 Request Header Fields Too Large",
                                 f"request line and headers larger than {self.max_header_bytes} bytes")
                return
            head, data = data[:room], data[room:]
            self.header_bytes += len(head)
            super().data_received(head)
            if self.parser is None or self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        if self.transport.is_closing():
            return  # the rest of a read on a connection being closed builds no request
        super().on_headers_complete()
        if len(self.pipeline) > self.max_pipelined:
            self.pipeline.clear()
            self._close_with(b"429 Too Many Requests", f"more than {self.max_pipelined} pipelined requests queued")

    def on_body(self, body: bytes) -> None:
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            super().on_message_complete()
        self.reading_headers = True  # what comes next is the next request's line and headers
        self.header_bytes = 0

    def _arm(self) -> None:
        self.request_deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self.request_deadline is not None:
            self.request_deadline.cancel()
            self.request_deadline = None

    def _too_slow(self) -> None:
        self.request_deadline = None
        if self.transport.is_closing():
            return
        if self.header_bytes:
            self._close_with(b"408 Request Timeout", f"request not complete within {self.request_timeout_s} s")
        else:
            self.transport.close()

    def _may_answer(self) -> bool:
        """Whether an answer written now is the one the client reads next: not while a response is in progress."""
        if self.reading_headers:  # between requests, or in a pipelined one: only if no response is running
            return self.cycle is None or self.cycle.response_complete
        return not self.cycle.response_started  # in a body: only if this request's response has not begun

    def _close_with(self, status: bytes, detail: str) -> None:
        """Answer ``status`` (when that answer would not land inside a response) and close."""
        self.logger.debug("closing a connection from %s: %s", self.client, detail)
        self._disarm()
        if self._may_answer():
            self.transport.write(_answer(status, detail, self.server_state.default_headers))
        self.transport.close()


def bounded_httptools(request_timeout_s: float, max_header_bytes: int) -> type[BoundedHttpToolsProtocol]:
    """The protocol class to give ``uvicorn.run(http=...)``, with these bounds."""
    return type("BoundedHttpTools", (BoundedHttpToolsProtocol,),
                {"request_timeout_s": request_timeout_s, "max_header_bytes": max_header_bytes})
