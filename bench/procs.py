"""What the benchmarks' processes get and cost: their environment, the open-file limit, and /proc's figures.

The services under test and the references (a redis-server, the baselines' apps) are each a
:class:`tools.supervisor.Supervisor` (the one the tests and ``make run`` use), given ``clean_env``: the machine's
environment minus any ``SCOREBOARD_*``/``KAFKA_*`` settings, plus what the bench gives; each writes its output to a
log file in the run directory and is stopped (SIGTERM, then SIGKILL of its process group) when the bench ends.
Load generators run to completion with ``run_tool``. ``rss_kb``/``cpu_seconds`` read ``/proc`` for the figures.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from pathlib import Path

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
