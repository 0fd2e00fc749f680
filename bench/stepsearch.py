"""Find the highest sustained request rate whose p99 stays under a bound (benches 2 and 5).

The offered rate starts at ``start`` and grows by half each step until a step fails (p99 over the bound,
errors, answers other than the expected status, or the generator could not keep the schedule), or halves
until one passes when the first fails; two bisection steps then narrow the gap. Each step is one run of the
separate load generator process; the server's CPU use per step is read from /proc to say which side was the
limit.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.procs import cpu_seconds, run_tool

P99_BOUND_MS = 50.0
CONNS = 100


def passed(step: dict[str, Any], expect_status: int) -> bool:
    measured = step["measured_requests"]
    expected = step["statuses"].get(str(expect_status), 0)
    return (step["p99_ms"] is not None and step["p99_ms"] < P99_BOUND_MS and not step["errors"]
            and not step["overloaded"] and measured > 0 and expected >= 0.99 * measured)


async def run_step(url_host: str, port: int, rate: float, seconds: float, headers: dict[str, str],
                   server_pids: list[int], warmup_s: float = 1.0, conns: int | None = None,
                   action: str = "complete_level_1") -> dict[str, Any]:
    conns = conns or min(CONNS, max(8, int(rate / 5)))  # enough for 200 ms of latency at this rate
    cfg = {"host": url_host, "port": port, "path": "/scores", "headers": headers, "rate": rate,
           "seconds": seconds, "warmup_s": warmup_s, "conns": conns, "users": 10_000, "action": action}
    cpu_before = {pid: cpu_seconds(pid) for pid in server_pids}
    out = await run_tool(["-m", "bench.loadgen", orjson.dumps(cfg).decode()], timeout=seconds + warmup_s + 60)
    step: dict[str, Any] = orjson.loads(out)
    elapsed = seconds + warmup_s
    step["server_cpu"] = {str(pid): round((cpu_seconds(pid) - cpu_before[pid]) / elapsed, 3)
                          for pid in server_pids if os.path.exists(f"/proc/{pid}")}
    return step


async def search(step_at: Callable[[float], Awaitable[dict[str, Any]]], start: float, max_rate: float,
                 expect_status: int, before_step: Callable[[], Awaitable[None]] | None = None,
                 bisections: int = 2) -> dict[str, Any]:
    """Grow the rate until a step fails, then bisect; returns the best passing step and every step run."""
    steps: list[dict[str, Any]] = []

    async def attempt(rate: float) -> bool:
        if before_step is not None:
            await before_step()
        step = await step_at(rate)
        step["passed"] = passed(step, expect_status)
        steps.append(step)
        print(f"    {rate:8.0f}/s offered: p99 {step['p99_ms'] or float('inf'):8.1f} ms, "
              f"{step['achieved']:8.0f}/s ok, {'pass' if step['passed'] else 'FAIL'}", flush=True)
        return bool(step["passed"])

    low: float | None = None   # highest rate seen passing
    high: float | None = None  # lowest rate seen failing
    rate = start
    while True:
        if await attempt(rate):
            low = rate
            if high is not None or rate * 1.5 > max_rate:
                break
            rate = round(rate * 1.5)
        else:
            high = rate
            if low is not None or rate / 2 < start / 8:  # even an eighth of the start rate fails: stop there
                break
            rate = round(rate / 2)
    for _ in range(bisections if low is not None and high is not None else 0):
        assert low is not None and high is not None
        mid = round((low + high) / 2)
        if mid in (low, high):
            break
        if await attempt(mid):
            low = mid
        else:
            high = mid
    passing = [s for s in steps if s["passed"]]
    best = max(passing, key=lambda s: s["achieved"]) if passing else None
    return {"best_rate": best["achieved"] if best else 0.0, "best_step": best, "first_failing_rate": high,
            "steps": steps}
