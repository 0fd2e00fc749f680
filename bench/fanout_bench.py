"""Bench 4, fan-out: the most SSE clients one ``sse_server`` holds while delivering every change at 2 updates/s
with p99 delivery under 1 s, and its RSS per client.

For each client count (1k, 2k, 5k, 10k; stopping at the first that fails) a fresh ``sse_server`` is started on
fresh topics, the clients (separate processes of raw asyncio protocols, see ``bench.swarm``) connect to the
``alltime`` stream, and
boards of ``fanout_rows`` rows are produced straight to ``leaderboard-updates`` every 0.5 s. Delivery delay =
arrival of that exact version at a client - the moment it was produced; a version a client never got counts
as not delivered. RSS per client = (server VmRSS with every client connected - before any) / clients.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench import profiling
from bench.context import Context
from bench.procs import cpu_seconds, rss_kb
from bench.results import BenchResult, Row
from bench.swarm import Swarm

UPDATES_PER_S = 2.0
P99_BOUND_MS = 1000.0


def board(version: int, rows: int) -> bytes:
    data = [{"rank": r + 1, "user_id": f"player-{r}", "username": f"Player {r}", "score": (rows - r) * 10 + version}
            for r in range(rows)]
    return orjson.dumps({"data": data, "timestamp": datetime.now(UTC).isoformat(), "window": "alltime",
                         "version": version})


async def run_count(ctx: Context, clients: int) -> dict[str, Any]:
    rows, seconds = ctx.sizes.fanout_rows, ctx.sizes.fanout_seconds
    async with AsyncExitStack() as stack:
        prefix, names = await ctx.new_topics()
        producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks=1, linger_ms=0)
        await producer.start()
        stack.push_async_callback(producer.stop)
        await producer.send_and_wait(names.leaderboard_updates, board(1, rows), key=b"alltime")
        sse, url = await ctx.start_sse(stack, prefix, name=f"sse-{clients}")
        rss_before = rss_kb(sse.pid)
        swarm = await Swarm("127.0.0.1", int(url.rsplit(":", 1)[1]), "/leaderboard/stream?window=alltime",
                            clients).start()
        stack.push_async_callback(swarm.kill)
        await asyncio.sleep(0.5)
        rss_connected = rss_kb(sse.pid)
        spy = await profiling.start(sse.pid, ctx.run_dir / f"sse-{clients}-profile.txt") if ctx.profile else None
        cpu_before, started = cpu_seconds(sse.pid), time.monotonic()
        produced: dict[int, float] = {}
        for i in range(int(seconds * UPDATES_PER_S)):
            version = i + 2
            await asyncio.sleep(max(0.0, started + i / UPDATES_PER_S - time.monotonic()))
            value = board(version, rows)
            produced[version] = time.monotonic()
            await producer.send_and_wait(names.leaderboard_updates, value, key=b"alltime")
        await asyncio.sleep(P99_BOUND_MS / 1000 + 0.5)  # time for the last update to reach everyone
        cpu = (cpu_seconds(sse.pid) - cpu_before) / (time.monotonic() - started)
        profile = await profiling.stop(spy) if spy is not None else {}
        rss_end = rss_kb(sse.pid)
        figures = await swarm.stop({"kind": "fanout", "produced": produced},
                                   ctx.run_dir / f"fanout-{clients}.json")
    per_client = (rss_connected - rss_before) / max(figures["connected"], 1)
    passed = (figures["connected"] == clients and figures["p99_ms"] is not None
              and figures["p99_ms"] < P99_BOUND_MS)
    print(f"    {clients:6d} clients ({figures['client_processes']} client processes): "
          f"{figures['connected']} connected in {figures['connect_s']:.1f}s, "
          f"p99 {figures['p99_ms'] or float('inf'):.0f} ms, delivered {figures['delivered']:.3f}, "
          f"{per_client:.1f} KiB/client, server CPU {cpu:.2f} -> {'pass' if passed else 'FAIL'}", flush=True)
    return {"clients": clients, "passed": passed, "rss_before_kb": rss_before, "rss_connected_kb": rss_connected,
            "rss_end_kb": rss_end, "rss_per_client_kb": per_client, "server_cpu": cpu, "board_rows": rows,
            "board_bytes": len(board(2, rows)), "updates": len(produced), "sse_profile": profile, **figures}


async def run(ctx: Context) -> BenchResult:
    steps: list[dict[str, Any]] = []
    for clients in ctx.sizes.fanout_counts:
        step = await run_count(ctx, clients)
        steps.append(step)
        if not step["passed"]:
            break
    passing = [s for s in steps if s["passed"]]
    best = max(passing, key=lambda s: s["clients"]) if passing else None
    held = best["clients"] if best else 0
    measured = best or steps[-1]
    per_client = measured["rss_per_client_kb"] * 1024 / 1000  # KiB -> KB
    rows = [
        Row("4 fan-out", "SSE clients held, 2 updates/s, p99 < 1 s", held, "clients", "", None,
            "≥ 10,000", held >= 10_000),
        Row("4 fan-out", f"RSS per client (at {measured['clients']} clients)", per_client, "KB", "", None,
            "≤ 25 KB", per_client <= 25),
        Row("4 fan-out", f"p99 delivery (at {measured['clients']} clients)", measured["p99_ms"], "ms"),
    ]
    return BenchResult("fanout", "SSE fan-out", rows, {"updates_per_s": UPDATES_PER_S, "steps": steps})
