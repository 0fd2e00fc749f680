"""Many SSE clients in one separate process: ``python -m bench.sseclients '<json config>'``.

Each client is a raw asyncio stream that notes, for every event, its ``id:`` (the board version) and when it
arrived, scanning the raw bytes for id lines; every ``probe_every``-th client decodes the stream and parses
the board (user -> score) for the end-to-end figure.
Protocol with the parent on stdin/stdout, one line each:
- prints ``connected <ok> <failed> <seconds>`` once every client got its first event (or failed, or timed out);
- reads ``stop <truth file>``; the file holds ``{"kind": "fanout", "produced": {version: t}}`` or
  ``{"kind": "e2e", "sends": [[user, j, t, ok], ...], "points": p, "user_prefix": s}``;
- prints one JSON line with the figures (see ``bench.latency``) and the connection counts, and exits.

Config keys: host, port, path, clients, probe_every, connect_concurrency, connect_timeout_s.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench import latency
from bench.wire import open_stream, sse_events, sse_ids


class Clients:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.n = int(cfg["clients"])
        self.versions: list[list[int]] = [[] for _ in range(self.n)]
        self.times: list[list[float]] = [[] for _ in range(self.n)]
        self.boards: dict[int, dict[str, int]] = {}
        self.first = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.all_in = asyncio.Event()
        self.gate = asyncio.Semaphore(int(cfg.get("connect_concurrency", 200)))

    def _settled(self) -> None:
        if self.first + self.failed >= self.n:
            self.all_in.set()

    async def client(self, idx: int) -> None:
        probe = idx % int(self.cfg.get("probe_every", 0) or self.n + 1) == 0
        versions, times = self.versions[idx], self.times[idx]
        writer = None
        try:
            async with self.gate:
                for attempt in range(3):
                    try:
                        reader, writer, chunked = await open_stream(self.cfg["host"], int(self.cfg["port"]),
                                                                    self.cfg["path"])
                        break
                    except (OSError, ConnectionError, asyncio.IncompleteReadError):
                        if attempt == 2:
                            raise
                        await asyncio.sleep(0.2 * (attempt + 1))
            if not probe:
                async for ids in sse_ids(reader):
                    now = time.monotonic()
                    if not versions:
                        self.first += 1
                        self._settled()
                    versions.extend(ids)
                    times.extend([now] * len(ids))
                return
            async for version, block in sse_events(reader, chunked):
                now = time.monotonic()
                if not versions:
                    self.first += 1
                    self._settled()
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
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            if not versions:
                self.failed += 1
                self._settled()
        finally:
            if writer is not None:
                writer.close()

    async def run(self) -> None:
        started = time.monotonic()
        tasks = [asyncio.create_task(self.client(i)) for i in range(self.n)]
        try:
            await asyncio.wait_for(self.all_in.wait(), float(self.cfg.get("connect_timeout_s", 120)))
        except TimeoutError:
            pass
        print(f"connected {self.first} {self.n - self.first} {time.monotonic() - started:.2f}", flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        truth = orjson.loads(Path(line.split()[1]).read_bytes())  # the clients are closed: nothing to block
        print(orjson.dumps(self.figures(truth)).decode(), flush=True)

    def figures(self, truth: dict[str, Any]) -> dict[str, Any]:
        clients = list(zip(self.versions, self.times, strict=True))
        connected = [c for c in clients if c[0]]
        if truth["kind"] == "fanout":
            produced = {int(v): t for v, t in truth["produced"].items()}
            result = latency.fanout(connected, produced)
        else:
            sends = [(u, j, t) for u, j, t, ok in truth["sends"] if ok]
            prefix = truth["user_prefix"]
            user_ids = {u: f"{prefix}{u}" for u in {s[0] for s in sends}}
            result = latency.end_to_end(connected, self.boards, user_ids, int(truth["points"]), sends)
            result["failed_posts"] = sum(1 for s in truth["sends"] if not s[3])
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result.update(client_process_cpu_s=usage.ru_utime + usage.ru_stime, clients=self.n,
                      connected=len(connected), errors=self.errors,
                      events_received=sum(len(v) for v in self.versions))
        return result


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(Clients(orjson.loads(sys.argv[1])).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
