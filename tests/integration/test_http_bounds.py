"""What a connection may take while it sends a request, on both HTTP services (real processes, real sockets): a
deadline on receiving the request (slowloris, slow bodies) and a bound on its headers
(``schemas/runtime/uvicorn_internals.py``).

Each test starts the write API or the read/stream API with a short ``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S`` and
talks to it over raw sockets: hundreds of connections that send part of a request (or nothing, or one byte at a
time) must all be closed by the server within the deadline (plus slack for a loaded 2-core machine), while
ordinary requests and an open SSE stream go on; a body that never completes is 408; a huge header is refused
after the bound, quickly, without the server's memory growing by tens of MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.fixtures.kafka import Topics
from tests.fixtures.sse import RawSseClient, poll
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

MakeTopics = Callable[..., Awaitable[Topics]]
Start = Callable[..., tuple[Supervisor, str]]
DEADLINE_S = 2.0
SLACK_S = 10.0  # a loaded 2-core machine: the bound asserted is the deadline plus this, the point is "not never"
SLOW = 300  # connections that send part of a request's headers
SILENT = 100  # connections that send nothing at all
MAX_HEADER = 32 * 1024  # the default SCOREBOARD_HTTP_MAX_HEADER_BYTES


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


Service = tuple[str, Callable[..., Awaitable[tuple[Supervisor, str]]]]


@pytest.fixture(params=["producer_api", "sse_server"])
def service(request: pytest.FixtureRequest, make_topics: MakeTopics, start_api: Start, start_sse: Start) -> Service:
    """(module, async factory starting it on fresh topics with the given settings)."""
    async def start(**extra: str) -> tuple[Supervisor, str]:
        topics = await make_topics()
        return (start_api if request.param == "producer_api" else start_sse)(topics, **extra)

    return request.param, start


def host_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    assert parsed.port is not None
    return parsed.host, parsed.port


async def open_partial(url: str, partial: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    """Connect and send ``partial``; the time returned is taken *before* connecting: the server arms its deadline
    after that (at accept), so a close earlier than the deadline from it is a real early close, whatever delay
    a loaded client loop adds."""
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection(*host_port(url))
    if partial:
        writer.write(partial)
        await writer.drain()
    return reader, writer, opened


async def closed_after(reader: asyncio.StreamReader, opened: float, timeout: float) -> tuple[float, bytes]:
    """Read until the server closes the connection: (seconds from opening, everything it sent)."""
    got = b""

    async def drain() -> None:
        nonlocal got
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                got += chunk

    await asyncio.wait_for(drain(), timeout)
    return time.monotonic() - opened, got


async def dribble(url: str, stop: asyncio.Event) -> tuple[float, bytes]:
    """A keep-alive connection that completes one request, then sends the next one's headers a byte at a time
    (every 0.2 s: each byte resets uvicorn's keep-alive timer); (seconds from the first dribbled byte, what the
    server sent after the first response)."""
    reader, writer = await asyncio.open_connection(*host_port(url))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    first = await reader.readuntil(b'{"status":"ok"}')
    assert first.startswith(b"HTTP/1.1 200"), first
    started, got = time.monotonic(), b""
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"x" * 10_000:
            writer.write(bytes([byte]))
            with contextlib.suppress(asyncio.TimeoutError):
                chunk = await asyncio.wait_for(reader.read(65536), 0.2)
                got += chunk
                if not chunk:
                    return time.monotonic() - started, got
            if stop.is_set() or writer.is_closing():
                break
        raise AssertionError("the server kept a dribbling connection open")
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - started, got
    finally:
        writer.close()


async def test_partial_headers_are_closed_within_the_deadline_while_requests_go_on(service: Service) -> None:
    name, start = service
    _, url = await start(SCOREBOARD_HTTP_REQUEST_TIMEOUT_S=str(DEADLINE_S), SCOREBOARD_SSE_HEARTBEAT_S="0.5")
    stream = await RawSseClient.open(url, "/leaderboard/stream") if name == "sse_server" else None
    slow = [await open_partial(url, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ") for _ in range(SLOW)]
    silent = [await open_partial(url, b"") for _ in range(SILENT)]
    stop = asyncio.Event()
    dribbler = asyncio.create_task(dribble(url, stop))
    closes = asyncio.gather(*(closed_after(r, opened, DEADLINE_S + SLACK_S) for r, _, opened in slow + silent))
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            answered = 0

            async def all_closed() -> bool:  # meanwhile, ordinary requests are answered
                nonlocal answered
                assert (await client.get("/healthz")).status_code == 200
                answered += 1
                return closes.done()

            await poll(all_closed, DEADLINE_S + SLACK_S + 5, "every partial-header connection closed", interval=0.2)
        assert answered >= 2
        ends = await closes
        lasted, dribbled = await asyncio.wait_for(dribbler, DEADLINE_S + SLACK_S)
        if stream is not None:  # a response, however long, is not cut by the header deadline
            stream.seen = b""
            await stream.read_until(b": ping\n\n", timeout=10)
    finally:
        stop.set()
        closes.cancel()
        for _, writer, _ in slow + silent:
            writer.close()
        if stream is not None:
            await stream.close()
    slow_ends, silent_ends = ends[:SLOW], ends[SLOW:]
    # never before the deadline (the server's clock starts after the client's), always a 408 for a partial request
    assert min(t for t, _ in ends) >= DEADLINE_S * 0.95
    assert all(got.startswith(b"HTTP/1.1 408 ") and b"connection: close" in got for _, got in slow_ends)
    assert all(got == b"" for _, got in silent_ends)  # nothing was asked: closed without an answer
    assert DEADLINE_S * 0.95 <= lasted <= DEADLINE_S + SLACK_S
    assert dribbled.startswith(b"HTTP/1.1 408 "), dribbled[:200]


async def send_raw(url: str, data: bytes) -> bytes:
    """Send ``data`` in one write, then read until the server closes: everything it answered."""
    reader, writer = await asyncio.open_connection(*host_port(url))
    writer.write(data)
    await writer.drain()
    try:
        _, got = await closed_after(reader, time.monotonic(), 30)
    finally:
        writer.close()
    return got


async def test_headers_past_the_bound_are_431_and_a_huge_header_is_cut_short(service: Service) -> None:
    _, start = service
    proc, url = await start()
    assert proc.proc is not None
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
    # just under the bound: served (a 20 KB cookie is unusual but legal); just over: 431, closed
    fits = await send_raw(url, head + b"Cookie: " + b"c" * 20_000 + b"\r\nConnection: close\r\n\r\n")
    assert fits.startswith(b"HTTP/1.1 200 "), fits[:200]
    over = await send_raw(url, head + b"X-Big: " + b"a" * MAX_HEADER + b"\r\n\r\n")
    assert over.startswith(b"HTTP/1.1 431 "), over[:200]
    assert b"content-type: application/json" in over and b"larger than 32768 bytes" in over

    # 32 MB of one header, written as fast as the server takes it: refused after the bound, the rest unread
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.get("/healthz")  # warm: what a first request allocates is not the header's
    before = rss_bytes(proc.proc.pid)
    _, writer = await asyncio.open_connection(*host_port(url))
    chunk, sent, started = b"a" * 65536, 0, time.monotonic()
    try:
        writer.write(head + b"X-Huge: ")
        while sent < 32 * 2**20:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 10)
            sent += len(chunk)
        raise AssertionError("the server read a 32 MB header")
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    refused_after = time.monotonic() - started
    grown = rss_bytes(proc.proc.pid) - before
    assert sent < 16 * 2**20, f"{sent / 2**20:.1f} MiB were taken before the refusal"
    assert refused_after < 5.0
    assert grown < 8 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_a_body_larger_than_the_header_bound_is_not_counted_as_headers(
    make_topics: MakeTopics, start_api: Start,
) -> None:
    """Headers and a 40 KB body in one write (one read on the server): the body goes to the app, which answers."""
    _, url = start_api(await make_topics(), SCOREBOARD_MAX_BODY_BYTES="65536")
    body = b'{"user_id": "u-1", "action_id": "complete_level_5", "pad": "' + b"p" * 40_000 + b'"}'
    answer = await send_raw(url, b"POST /scores HTTP/1.1\r\nHost: t\r\nX-API-KEY: test-key-1\r\n"
                                 b"Content-Type: application/json\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    status = answer.split(b" ", 2)[1]
    assert status not in (b"431", b"408") and b"application/json" in answer, answer[:300]  # the app's answer


async def test_a_body_sent_too_slowly_is_408_within_the_deadline(make_topics: MakeTopics, start_api: Start) -> None:
    """Headers complete, the body never: the request (whose handler waits for its body) is answered 408 and closed."""
    _, url = start_api(await make_topics(), SCOREBOARD_HTTP_REQUEST_TIMEOUT_S=str(DEADLINE_S))
    partial = (b"POST /scores HTTP/1.1\r\nHost: t\r\nX-API-KEY: test-key-1\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100\r\n\r\n{\"user_id\": ")
    reader, writer, opened = await open_partial(url, partial)
    try:
        lasted, got = await closed_after(reader, opened, DEADLINE_S + SLACK_S)
    finally:
        writer.close()
    assert DEADLINE_S * 0.95 <= lasted <= DEADLINE_S + SLACK_S
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_a_flood_of_pipelined_requests_is_closed_and_holds_no_memory(service: Service) -> None:
    """200,000 pipelined ``GET /healthz`` (6.6 MB) on one connection, answers never read, took the write API from
    93 to 553 MB, kept after the connection closed: now the connection is closed once more than the bound of
    requests are queued, and the service stays small and serving."""
    _, start = service
    proc, url = await start()
    assert proc.proc is not None
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.get("/healthz")  # warm
    before = rss_bytes(proc.proc.pid)
    _, writer = await asyncio.open_connection(*host_port(url))
    one = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    sent = 0
    try:
        for _ in range(200):
            writer.write(one * 1000)
            await asyncio.wait_for(writer.drain(), 10)
            sent += 1000
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed by the server: the point
    finally:
        writer.close()
    grown = rss_bytes(proc.proc.pid) - before
    assert sent < 200_000, "the server took 200,000 pipelined requests"
    assert grown < 16 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
