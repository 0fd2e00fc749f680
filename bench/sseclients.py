"""Many SSE clients in one separate process: ``python -m bench.sseclients '<json config>'``.

Each client notes, for every event, its ``id:`` (the board version) and when it arrived. Most clients are a
bare asyncio ``Protocol`` (no task, no stream reader: one callback per read that scans the raw bytes for id
lines), so one process holds ten thousand of them and the load side costs far less CPU than the server it
measures. Every ``probe_every``-th client is a task on an asyncio stream that decodes the body and parses the
board (user -> score) for the end-to-end figure.
Protocol with the parent (``bench.swarm``) on stdin/stdout, one line each:
- prints ``connected <ok> <failed> <seconds>`` once every client got its first event (or failed, or timed out);
- reads ``stop <raw file>``, closes every client, writes what they received to that file
  (``{"versions": [[...]...], "times": [[...]...], "boards": {version: {user: score}}, "errors": {...},
  "cpu_s": ...}``), prints ``done`` and exits.

Personal streams (``user_prefix`` set): client i asks for ``path`` + ``&user_id=<user_prefix><first_index + i>``
and also notes every ``standing`` event's ``[score, rank, arrival]`` (parsed from its JSON); they are written
under ``"standings"``.

Config keys: host, port, path, clients, probe_every, first_index, connect_concurrency, connect_timeout_s,
user_prefix.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop

from bench.wire import open_stream, sse_events

ID = b"\nid: "
STANDING = b"event: standing\ndata: "


class IdClient(asyncio.Protocol):
    """One stream read by callbacks: checks the status line, then records (id, arrival) of every event."""

    def __init__(self, owner: Clients, idx: int, request: bytes) -> None:
        self.owner = owner
        self.idx = idx
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.in_body = False
        self.dead = False
        self.tail = b"\n"  # the body may start with an id line
        self.versions = owner.versions[idx]
        self.times = owner.times[idx]
        self.standings = owner.standings[idx] if owner.personal else None
        self.pending = b""  # personal streams: the body after the last complete event

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if self.head[9:12] != b"200":
                self.dead = True
                self.owner.error(self.idx, "ConnectionError")
                assert self.transport is not None
                self.transport.close()
                return
            self.in_body = True
            data, self.head = self.head[end + 4:], b""
        if self.standings is not None:
            self._standings(data, now)
        # A JSON data: line holds no raw newline, so every "\nid: " starts an id line (chunk-size lines end
        # with CRLF); an id line cut by the end of a read is kept for the next one.
        data = self.tail + data
        self.tail = data[-4:]  # a cut "\nid: " (5 bytes) leaves at most 4; a whole id line needs 7
        at = data.find(ID)
        first = not self.versions
        while at >= 0:
            end = data.find(b"\n", at + 5)
            if end < 0:
                self.tail = data[at:]
                break
            self.versions.append(int(data[at + 5:end].rstrip(b"\r")))
            self.times.append(now)
            at = data.find(ID, end)
        if first and self.versions:
            self.owner.got_first()

    def _standings(self, data: bytes, now: float) -> None:
        """Note each complete ``standing`` event (the server writes whole events, so no chunk-size line falls
        inside one; a read may still end in the middle of one, kept in ``pending``)."""
        data = self.pending + data
        at = data.find(STANDING)
        while at >= 0:
            end = data.find(b"\n", at + len(STANDING))
            if end < 0:
                break
            body = orjson.loads(data[at + len(STANDING):end])
            assert self.standings is not None
            if body["score"] is not None:
                self.standings.append([body["score"], body["rank"], now])
            at = data.find(STANDING, end)
        self.pending = data[at:] if at >= 0 else data[-len(STANDING):]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.owner.stopping and not self.dead:
            self.dead = True
            self.owner.error(self.idx, type(exc).__name__ if exc is not None else "ConnectionClosed")


class Clients:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.n = int(cfg["clients"])
        self.first_index = int(cfg.get("first_index", 0))
        self.versions: list[list[int]] = [[] for _ in range(self.n)]
        self.times: list[list[float]] = [[] for _ in range(self.n)]
        self.personal = bool(cfg.get("user_prefix"))
        self.standings: list[list[list[float]]] = [[] for _ in range(self.n)] if self.personal else []
        self.boards: dict[int, dict[str, int]] = {}
        self.first = 0
        self.failed = 0
        self.stopping = False
        self.errors: dict[str, int] = {}
        self.transports: list[asyncio.BaseTransport] = []
        self.all_in = asyncio.Event()
        self.gate = asyncio.Semaphore(int(cfg.get("connect_concurrency", 200)))
        self.request = self.request_for(0)

    def request_for(self, idx: int) -> bytes:
        path = self.cfg["path"]
        if self.personal:
            path += f"&user_id={self.cfg['user_prefix']}{self.first_index + idx}"
        return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode()

    def _settled(self) -> None:
        if self.first + self.failed >= self.n:
            self.all_in.set()

    def got_first(self) -> None:
        self.first += 1
        self._settled()

    def error(self, idx: int, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1
        if not self.versions[idx]:
            self.failed += 1
            self._settled()

    def is_probe(self, idx: int) -> bool:
        every = int(self.cfg.get("probe_every", 0) or 0)
        return every > 0 and (self.first_index + idx) % every == 0

    async def connect(self, idx: int) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.cfg["host"], int(self.cfg["port"])
        try:
            async with self.gate:
                for attempt in range(3):
                    try:
                        transport, _ = await loop.create_connection(
                            lambda: IdClient(self, idx, self.request_for(idx)), host, port)
                        self.transports.append(transport)
                        return
                    except OSError:
                        if attempt == 2:
                            raise
                        await asyncio.sleep(0.2 * (attempt + 1))
        except Exception as exc:  # noqa: BLE001 - counted and reported, never silent
            self.error(idx, type(exc).__name__)

    async def probe(self, idx: int) -> None:
        """A client that reads whole events and keeps each board (for the end-to-end figure)."""
        versions, times = self.versions[idx], self.times[idx]
        writer = None
        try:
            async with self.gate:
                reader, writer, chunked = await open_stream(self.cfg["host"], int(self.cfg["port"]),
                                                            self.cfg["path"])
            async for version, block in sse_events(reader, chunked):
                now = time.monotonic()
                if not versions:
                    self.got_first()
                versions.append(version)
                times.append(now)
                if version not in self.boards:
                    at = block.find(b"data:")
                    if at >= 0:
                        end = block.find(b"\n", at)
                        body = orjson.loads(block[at + 5:end if end >= 0 else None])
                        self.boards[version] = {row["user_id"]: row["score"] for row in body["data"]}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - counted and reported, never silent
            self.error(idx, type(exc).__name__)
        finally:
            if writer is not None:
                writer.close()

    async def run(self) -> None:
        started = time.monotonic()
        tasks = [asyncio.create_task(self.probe(i) if self.is_probe(i) else self.connect(i))
                 for i in range(self.n)]
        try:
            await asyncio.wait_for(self.all_in.wait(), float(self.cfg.get("connect_timeout_s", 120)))
        except TimeoutError:
            pass
        print(f"connected {self.first} {self.n - self.first} {time.monotonic() - started:.2f}", flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        self.stopping = True
        for transport in self.transports:
            transport.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        raw = {"versions": self.versions, "times": self.times, "boards": self.boards, "errors": self.errors,
               "cpu_s": usage.ru_utime + usage.ru_stime, "standings": self.standings}
        Path(line.split()[1]).write_bytes(orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS))
        print("done", flush=True)


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(Clients(orjson.loads(sys.argv[1])).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
