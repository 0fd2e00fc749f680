"""Parent side of ``bench.sseclients``: start the client process, wait for its clients, stop it, get figures."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.procs import ROOT, clean_env


class Swarm:
    def __init__(self, host: str, port: int, path: str, clients: int, probe_every: int = 0) -> None:
        self.connect_timeout = 60 + clients / 100
        self.cfg = {"host": host, "port": port, "path": path, "clients": clients, "probe_every": probe_every,
                    "connect_concurrency": 200, "connect_timeout_s": self.connect_timeout}
        self.proc: asyncio.subprocess.Process | None = None
        self.connected = 0
        self.connect_s = 0.0

    async def start(self) -> Swarm:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sseclients", orjson.dumps(self.cfg).decode(), cwd=ROOT, env=clean_env(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), self.connect_timeout + 30)
        if not line.startswith(b"connected"):
            await self.kill()
            raise RuntimeError(f"sse clients did not start: {line!r}")
        _, ok, _, seconds = line.split()
        self.connected, self.connect_s = int(ok), float(seconds)
        return self

    async def stop(self, truth: dict[str, Any], truth_path: Path, timeout: float = 300) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        truth_path.write_bytes(orjson.dumps(truth, option=orjson.OPT_NON_STR_KEYS))
        self.proc.stdin.write(f"stop {truth_path}\n".encode())
        await self.proc.stdin.drain()
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            await asyncio.wait_for(self.proc.wait(), 30)
        finally:
            await self.kill()
        figures: dict[str, Any] = orjson.loads(line)
        figures["connect_s"] = self.connect_s
        return figures

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
