"""Minimal HTTP/1.1 over asyncio streams for the load generator and the SSE clients.

Why not httpx: on a 2-core machine the load generator shares the CPU with the servers it measures, so each
request must cost as little as possible. A keep-alive connection that writes prepared request bytes and reads
``Content-Length`` responses costs a fraction of a full client; SSE streams are read chunk by chunk and only
their ``id:`` lines are looked at unless the caller asks for the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

LIMIT = 1 << 20


def post_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def get_request(path: str, headers: dict[str, str] | None = None) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n{head}\r\n".encode()


class Connection:
    """One keep-alive connection; ``request`` sends prepared bytes and returns (status, body)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=LIMIT)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise ValueError(f"response without content-length: {head[:200]!r}")
        end = lower.index(b"\r\n", at + 2)
        body = await self.reader.readexactly(int(lower[at + 17:end]))
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, body


async def open_stream(host: str, port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
    """Open an SSE stream; returns (reader, writer, chunked) positioned at the start of the body."""
    reader, writer = await asyncio.open_connection(host, port, limit=LIMIT)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if head[9:12] != b"200":
        writer.close()
        raise ConnectionError(f"stream answered {head[:120]!r}")
    return reader, writer, b"transfer-encoding: chunked" in head.lower()


async def body_pieces(reader: asyncio.StreamReader, chunked: bool) -> AsyncIterator[bytes]:
    """The decoded body as it arrives (chunked transfer coding undone)."""
    while True:
        if chunked:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                return
            piece = await reader.readexactly(size + 2)
            yield piece[:-2]
        else:
            piece = await reader.read(65536)
            if not piece:
                return
            yield piece


async def sse_events(reader: asyncio.StreamReader, chunked: bool) -> AsyncIterator[tuple[int, bytes]]:
    """(id, event block) for every event that has an ``id:`` line; comments (heartbeats) are skipped."""
    buffer = b""
    async for piece in body_pieces(reader, chunked):
        buffer += piece.replace(b"\r\n", b"\n")
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            block, buffer = buffer[:end], buffer[end + 2:]
            at = block.find(b"id:")
            if at < 0 or (at > 0 and block[at - 1] != 10):
                continue
            stop = block.find(b"\n", at)
            yield int(block[at + 3:stop if stop >= 0 else None]), block
