"""Processes the benchmarks start: services under test, references, load generators, and what they cost.

Every process gets an explicit environment (the machine's, minus any ``SCOREBOARD_*``/``KAFKA_*`` settings, plus
what the bench gives), writes its output to a log file in the run directory, and is stopped (SIGTERM, then
SIGKILL of its process group) when the bench ends. ``rss_kb``/``cpu_seconds`` read ``/proc`` for the figures.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    return {**keep, "PYTHONUNBUFFERED": "1", **extra}


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it); return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Service:
    """One subprocess (``python <args>``, or ``args`` itself when ``python=False``) with its log; ready when a
    line appears in its output or a URL answers 200."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, python: bool = True) -> None:
        self.name = name
        self.argv = [sys.executable, *args] if python else args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_after = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, *, ready_line: str | None = None, ready_url: str | None = None,
                    timeout: float = 120.0) -> Service:
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = self.started_at + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
                if ready_line is not None and ready_line in self.output():
                    break
                if ready_url is not None:
                    try:
                        if (await client.get(ready_url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.1)
            else:
                await self.stop()
                raise TimeoutError(f"{self.name} not ready within {timeout}s:\n{self.output()[-3000:]}")
        self.ready_after = time.monotonic() - self.started_at
        return self

    async def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing flushed (the chaos run's ``kill -9``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


async def run_tool(args: list[str], *, timeout: float, stdin: bytes | None = None) -> str:
    """Run ``python <args>`` to completion (a load generator, the bare consumer) and return its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=clean_env(), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:2])} exited with {proc.returncode}: {tail}")
    return out.decode()
