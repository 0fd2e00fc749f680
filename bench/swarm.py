"""Parent side of ``bench.sseclients``: start the client processes, wait for their clients, stop them, and work
out the figures from everything they received.

The clients are split over ``processes`` child processes (by default one per 5,000 clients), so the load side
can use the other core while the server under test uses one. Each child writes the raw arrivals (version and
time of every event, per client) and the parent computes the figures over all clients at once, with the same
``bench.latency`` functions, so nothing is averaged across processes.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import latency
from bench.procs import ROOT, clean_env

CLIENTS_PER_PROCESS = 5000


class Swarm:
    def __init__(self, host: str, port: int, path: str, clients: int, probe_every: int = 0,
                 processes: int | None = None, user_prefix: str = "") -> None:
        self.clients = clients
        self.processes = max(1, min(clients, processes or math.ceil(clients / CLIENTS_PER_PROCESS)))
        self.connect_timeout = 60 + clients / 100
        self.base = {"host": host, "port": port, "path": path, "probe_every": probe_every,
                     "connect_concurrency": max(50, 200 // self.processes), "connect_timeout_s": self.connect_timeout,
                     "user_prefix": user_prefix}
        self.procs: list[asyncio.subprocess.Process] = []
        self.connected = 0
        self.connect_s = 0.0

    def _shares(self) -> list[tuple[int, int]]:
        """(first index, count) of each child's clients."""
        size, extra = divmod(self.clients, self.processes)
        shares, first = [], 0
        for i in range(self.processes):
            count = size + (1 if i < extra else 0)
            shares.append((first, count))
            first += count
        return shares

    async def start(self) -> Swarm:
        for first, count in self._shares():
            cfg = {**self.base, "clients": count, "first_index": first}
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.sseclients", orjson.dumps(cfg).decode(), cwd=ROOT, env=clean_env(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True))
        for proc in self.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), self.connect_timeout + 30)
            if not line.startswith(b"connected"):
                await self.kill()
                raise RuntimeError(f"sse clients did not start: {line!r}")
            _, ok, _, seconds = line.split()
            self.connected += int(ok)
            self.connect_s = max(self.connect_s, float(seconds))
        return self

    async def stop(self, truth: dict[str, Any], truth_path: Path, timeout: float = 300) -> dict[str, Any]:
        """Stop the clients and return the figures against ``truth`` (``{"kind": "fanout", "produced":
        {version: t}}``, ``{"kind": "e2e", "sends": [[user, j, t, ok], ...], "points": p, "user_prefix": s}`` or
        ``{"kind": "standing", "changes": [[client, score, rank, t], ...]}`` for personal streams, see
        ``latency.standings``), which is also written to ``truth_path`` for the record."""
        truth_path.write_bytes(orjson.dumps(truth, option=orjson.OPT_NON_STR_KEYS))
        raws = [truth_path.with_name(f"{truth_path.stem}-clients-{i}.json") for i in range(len(self.procs))]
        try:
            for proc, raw in zip(self.procs, raws, strict=True):
                assert proc.stdin is not None
                proc.stdin.write(f"stop {raw}\n".encode())
                await proc.stdin.drain()
            for proc in self.procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), timeout)
                if line.strip() != b"done":
                    raise RuntimeError(f"sse clients did not finish: {line!r}")
                await asyncio.wait_for(proc.wait(), 30)
        finally:
            await self.kill()
        versions: list[list[int]] = []
        times: list[list[float]] = []
        boards: dict[int, dict[str, int]] = {}
        errors: dict[str, int] = {}
        standings: list[list[list[float]]] = []
        cpu = 0.0
        for raw_path in raws:
            raw = orjson.loads(raw_path.read_bytes())
            raw_path.unlink()
            versions += raw["versions"]
            times += raw["times"]
            boards.update({int(v): b for v, b in raw["boards"].items()})
            for name, n in raw["errors"].items():
                errors[name] = errors.get(name, 0) + n
            cpu += raw["cpu_s"]
            standings += raw.get("standings", [])
        if truth["kind"] == "standing":
            figures = latency.standings(standings, truth)
            figures.update(clients=len(versions), connected=sum(1 for v in versions if v))
        else:
            figures = self.figures(truth, list(zip(versions, times, strict=True)), boards)
        figures.update(client_process_cpu_s=cpu, client_processes=len(self.procs), errors=errors,
                       connect_s=self.connect_s)
        return figures

    def figures(self, truth: dict[str, Any], clients: list[tuple[list[int], list[float]]],
                boards: dict[int, dict[str, int]]) -> dict[str, Any]:
        connected = [c for c in clients if c[0]]
        if truth["kind"] == "fanout":
            produced = {int(v): t for v, t in truth["produced"].items()}
            result = latency.fanout(connected, produced)
        else:
            sends = [(u, j, t) for u, j, t, ok in truth["sends"] if ok]
            prefix = truth["user_prefix"]
            user_ids = {u: f"{prefix}{u}" for u in {s[0] for s in sends}}
            result = latency.end_to_end(connected, boards, user_ids, int(truth["points"]), sends)
            result["failed_posts"] = sum(1 for s in truth["sends"] if not s[3])
        result.update(clients=len(clients), connected=len(connected),
                      events_received=sum(len(v) for v, _ in clients))
        return result

    async def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
