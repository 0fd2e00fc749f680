"""Sample a running process with py-spy (``--profile``) and sum its stacks: where the CPU time goes.

py-spy attaches from outside (no code change in the service), samples only threads that are running (idle
ones waiting in epoll are left out), and writes collapsed stacks; :func:`summarize` turns them into the top
frames by self time (the frame on top of the stack) and by total time (anywhere on the stack).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 100  # samples per second


def py_spy() -> str:
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    return found


class Spy:
    def __init__(self, proc: asyncio.subprocess.Process, out: Path) -> None:
        self.proc = proc
        self.out = out
        self.started = time.monotonic()


async def start(pid: int, out: Path) -> Spy:
    proc = await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw", "--nolineno",
        "--nonblocking", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return Spy(proc, out)


async def stop(spy: Spy, timeout: float = 30.0) -> dict[str, Any]:
    seconds = time.monotonic() - spy.started
    if spy.proc.returncode is None:
        spy.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.proc.wait(), timeout)
        except TimeoutError:
            spy.proc.kill()
            await spy.proc.wait()
    if not spy.out.exists():
        return {"error": "py-spy wrote no profile (is ptrace allowed?)"}
    summary = summarize(spy.out.read_text().splitlines())
    summary["seconds"] = seconds
    summary["file"] = str(spy.out)
    return summary


def summarize(lines: list[str], top: int = 15) -> dict[str, Any]:
    """Collapsed stacks (``frame;frame;... count``) -> top frames by self and by total share of samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    share = max(samples, 1)
    return {
        "samples": samples,
        "self": [[frame, round(n / share, 4)] for frame, n in own.most_common(top)],
        "total": [[frame, round(n / share, 4)] for frame, n in total.most_common(top * 2)],
    }
