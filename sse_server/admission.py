"""How many SSE streams one process, and one client address, may hold: beyond it ``503`` or ``429``.

A stream is cheap (about 13 KB and no task of its own, :mod:`sse_server.delivery`), but not free: every one is a
socket, a file descriptor and a share of each fan-out. Without a cap one client could open streams until the
process runs out of descriptors or memory and every other client is refused by the kernel, or served late. So:

- ``SCOREBOARD_SSE_MAX_STREAMS`` (per process): past it a new stream is ``503`` with ``Retry-After`` — this replica
  is full; another one (or this one, later) may have room.
- ``SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT`` (per client address): past it ``429`` with ``Retry-After`` — this
  address holds too many already; it should close one or wait.

Both the board stream and the personal stream (``?user_id=``) count; a ``HEAD`` is admitted and released at once.
The client address is ASGI's ``client``: the peer, or, when the peer is one of
``SCOREBOARD_SSE_FORWARDED_ALLOW_IPS``, the address uvicorn's proxy-headers middleware takes from
``X-Forwarded-For`` (the right-most address that is not a trusted proxy). Behind an ingress that is not trusted
every stream counts against the ingress's own address: set the proxies' range (README, Operations).

Refusals are counted in ``scoreboard_sse_streams_refused_total{reason}`` (``process_full``, ``client_full``); the
streams open are ``scoreboard_sse_clients`` (by window) and the addresses holding them
``scoreboard_sse_client_addresses``.
"""

from __future__ import annotations

import orjson
from starlette.types import Receive, Scope, Send

from sse_server.metrics import SseMetrics

PROCESS_FULL_RETRY_S = 10  # another replica may have room, or streams end; clients add jitter
CLIENT_FULL_RETRY_S = 30  # the address's own streams must end first
UNKNOWN_CLIENT = "unknown"  # a transport without a peer address (a Unix socket): one shared budget


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN_CLIENT


class Refusal:
    """A JSON refusal with ``Retry-After`` (an ASGI app): ``{"detail": ..., "retry_after_s": ...}``."""

    __slots__ = ("status", "retry_after_s", "detail", "reason")

    def __init__(self, status: int, retry_after_s: int, detail: str, reason: str) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.detail = detail
        self.reason = reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = orjson.dumps({"detail": self.detail, "retry_after_s": self.retry_after_s})
        await send({"type": "http.response.start", "status": self.status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % self.retry_after_s), (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


class StreamAdmission:
    """Counts the open streams, in all and per client address; :meth:`admit` one or say why not."""

    def __init__(self, max_streams: int, max_per_client: int, metrics: SseMetrics) -> None:
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self.metrics = metrics
        self.open = 0
        self.by_client: dict[str, int] = {}  # only addresses holding a stream: it cannot grow past ``open``
        metrics.client_addresses.set_function(lambda: len(self.by_client))

    def admit(self, client: str) -> Refusal | None:
        """None: the stream is counted (call :meth:`release` when it ends); else the answer to send instead."""
        if self.open >= self.max_streams:
            self.metrics.streams_refused.labels("process_full").inc()
            return Refusal(503, PROCESS_FULL_RETRY_S, f"this server holds its maximum of {self.max_streams} "
                           f"streams; retry after {PROCESS_FULL_RETRY_S} s, with jitter", "process_full")
        held = self.by_client.get(client, 0)
        if held >= self.max_per_client:
            self.metrics.streams_refused.labels("client_full").inc()
            return Refusal(429, CLIENT_FULL_RETRY_S, f"this address holds its maximum of {self.max_per_client} "
                           f"streams; close one, or retry after {CLIENT_FULL_RETRY_S} s, with jitter",
                           "client_full")
        self.open += 1
        self.by_client[client] = held + 1
        return None

    def release(self, client: str) -> None:
        self.open -= 1
        held = self.by_client[client] - 1
        if held:
            self.by_client[client] = held
        else:
            del self.by_client[client]
