"""Bench 3, end-to-end latency: a POST is sent -> an SSE client receives a board containing it.

The whole pipeline runs (worker, write API, read API); ``e2e_clients`` SSE clients (one separate process) hold
the ``alltime`` stream while the load generator (another process) posts ``e2e_rate`` events/s for
``e2e_seconds``, round robin over ``e2e_users`` fresh users (10: every user is always on the board, ours of 100
rows and the Redis design's of 10), with ``Prefer: respond-async``. See ``bench.latency`` for how a POST is
matched to the first board containing it. The first second is warm-up and left out of the figures; a POST
whose board has not reached a client ``TAIL_S`` after the load ends counts as never delivered.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import orjson

from bench.context import API_KEY, Context
from bench.procs import run_tool
from bench.results import BenchResult, Row
from bench.swarm import Swarm

ACTION, POINTS = "complete_level_1", 10  # from the shipped example catalog
WARMUP_S = 1.0
TAIL_S = 5.0
LOAD_CONNS = 32


async def measure(ctx: Context, label: str, post_port: int, headers: dict[str, str], stream_port: int,
                  stream_path: str) -> dict[str, Any]:
    sizes = ctx.sizes
    clients = sizes.e2e_clients
    async with AsyncExitStack() as stack:
        swarm = await Swarm("127.0.0.1", stream_port, stream_path, clients,
                            probe_every=max(1, clients // 20)).start()
        stack.push_async_callback(swarm.kill)
        prefix = f"e2e{uuid.uuid4().hex[:6]}-"
        sends_path = ctx.run_dir / f"e2e-{label}-sends.json"
        cfg = {"host": "127.0.0.1", "port": post_port, "path": "/scores", "headers": headers,
               "rate": sizes.e2e_rate, "seconds": sizes.e2e_seconds, "warmup_s": 0.0, "conns": LOAD_CONNS,
               "users": sizes.e2e_users, "user_prefix": prefix, "action": ACTION, "sends_out": str(sends_path)}
        load = orjson.loads(await run_tool(["-m", "bench.loadgen", orjson.dumps(cfg).decode()],
                                           timeout=sizes.e2e_seconds + 60))
        await asyncio.sleep(TAIL_S)  # the last boards reach the clients
        sends = orjson.loads(sends_path.read_bytes())
        start = min((s[2] for s in sends), default=0.0)
        measured = [s for s in sends if s[2] >= start + WARMUP_S]
        # every POST still counts for the per-user numbering; only the measured ones are timed
        truth = {"kind": "e2e", "sends": measured, "points": POINTS, "user_prefix": prefix}
        figures = await swarm.stop(truth, ctx.run_dir / f"e2e-{label}-truth.json")
    figures["load"] = load
    print(f"    {label}: p50 {figures['p50_ms'] or float('inf'):.1f} ms, p99 {figures['p99_ms'] or float('inf'):.1f} "
          f"ms, max {figures['max_ms'] or float('inf'):.1f} ms, {figures['connected']}/{clients} clients, "
          f"{load['achieved']:.0f} POST/s", flush=True)
    return figures


async def run(ctx: Context) -> BenchResult:
    async with AsyncExitStack() as stack:
        prefix, _ = await ctx.new_topics()
        await ctx.start_worker(stack, prefix)
        api, api_url = await ctx.start_api(stack, prefix)
        sse, sse_url = await ctx.start_sse(stack, prefix)
        figures = await measure(ctx, "scoreboard", int(api_url.rsplit(":", 1)[1]),
                                {"X-API-KEY": API_KEY, "Prefer": "respond-async"}, int(sse_url.rsplit(":", 1)[1]),
                                "/leaderboard/stream?window=alltime")
    sizes = ctx.sizes
    achieved = figures["load"]["achieved"]
    where = f"at {sizes.e2e_rate:,} ev/s offered ({achieved:,.0f} sent), {sizes.e2e_clients:,} clients"
    if figures["p99_ms"] is None:
        where += f"; {1 - figures['delivered']:.0%} not delivered within {TAIL_S:.0f} s"
    p50, p99 = figures["p50_ms"], figures["p99_ms"]
    ctx.shared.update(e2e_p50=p50, e2e_p99=p99)
    rows = [
        Row("3 end-to-end", f"p50 {where}", p50, "ms", "", None, "≤ 30 ms", p50 is not None and p50 <= 30),
        Row("3 end-to-end", f"p99 {where}", p99, "ms", "", None, "≤ 100 ms", p99 is not None and p99 <= 100),
        Row("3 end-to-end", f"max {where}", figures["max_ms"], "ms"),
    ]
    return BenchResult("e2e", "End-to-end latency", rows, {"scoreboard": figures, "users": sizes.e2e_users,
                                                           "rate": sizes.e2e_rate, "clients": sizes.e2e_clients})
