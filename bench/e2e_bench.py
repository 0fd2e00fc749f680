"""Bench 3, end-to-end latency: a POST is sent -> an SSE client receives a board containing it.

The whole pipeline runs (worker, write API, read API); ``e2e_clients`` SSE clients (one separate process) hold the
``alltime`` stream while the load generator (another process) posts first ``e2e_idle_rate`` events/s (idle: what
the pipeline itself costs, every change going out at once) for ``e2e_idle_seconds`` to one client and for
``e2e_idle_fanout_seconds`` to ``e2e_clients`` (150 events timed: every event reaches all of them, so one slow
event among 50 was 2 % of the deliveries and alone set the p99), then ``e2e_rate``
events/s for ``e2e_seconds`` (where coalescing adds up to the emit interval), round robin over ``e2e_users`` fresh
users (10: every user is always on the board, ours of 100 rows and the Redis design's of 10), with ``Prefer:
respond-async``. See ``bench.latency`` for how a POST is matched to the first board containing it. The first second
is warm-up and left out of the figures; a POST whose board has not reached a client ``TAIL_S`` after the load ends
counts as never delivered.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import orjson

from bench.context import API_KEY, Context
from bench.kafka_hop import measure_hop
from bench.procs import run_tool
from bench.results import BenchResult, Row
from bench.swarm import Swarm

ACTION, POINTS = "complete_level_1", 10  # from the shipped example catalog
EMIT_INTERVAL_MS = 100  # the worker's default SCOREBOARD_EMIT_INTERVAL_MS, which the bench runs it with
WARMUP_S = 1.0
TAIL_S = 2.5
LOAD_CONNS = 32
HOP_SAMPLES = 20  # bare Kafka hops timed at the idle rate (bench.kafka_hop)


async def measure(ctx: Context, label: str, post_port: int, headers: dict[str, str], stream_port: int,
                  stream_path: str, rate: int | None = None, seconds: float | None = None,
                  clients: int | None = None) -> dict[str, Any]:
    sizes = ctx.sizes
    rate = sizes.e2e_rate if rate is None else rate
    seconds = sizes.e2e_seconds if seconds is None else seconds
    clients = sizes.e2e_clients if clients is None else clients
    async with AsyncExitStack() as stack:
        swarm = await Swarm("127.0.0.1", stream_port, stream_path, clients,
                            probe_every=max(1, clients // 20)).start()
        stack.push_async_callback(swarm.kill)
        prefix = f"e2e{uuid.uuid4().hex[:6]}-"
        sends_path = ctx.run_dir / f"e2e-{label}-sends.json"
        cfg = {"host": "127.0.0.1", "port": post_port, "path": "/scores", "headers": headers,
               "rate": rate, "seconds": seconds, "warmup_s": 0.0, "conns": LOAD_CONNS,
               "users": sizes.e2e_users, "user_prefix": prefix, "action": ACTION, "sends_out": str(sends_path)}
        load = orjson.loads(await run_tool(["-m", "bench.loadgen", orjson.dumps(cfg).decode()],
                                           timeout=seconds + 60))
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
    sizes = ctx.sizes
    async with AsyncExitStack() as stack:
        prefix, _ = await ctx.new_topics()
        await ctx.start_worker(stack, prefix)
        api, api_url = await ctx.start_api(stack, prefix)
        sse, sse_url = await ctx.start_sse(stack, prefix)
        ports = (int(api_url.rsplit(":", 1)[1]), {"X-API-KEY": API_KEY, "Prefer": "respond-async"},
                 int(sse_url.rsplit(":", 1)[1]), "/leaderboard/stream?window=alltime")
        hop = await measure_hop(ctx.bootstrap, sizes.e2e_idle_rate, HOP_SAMPLES)
        print(f"    one Kafka hop: p50 {hop['p50_ms']:.1f} ms, p99 {hop['p99_ms']:.1f} ms", flush=True)
        one = await measure(ctx, "idle-1", *ports, rate=sizes.e2e_idle_rate, seconds=sizes.e2e_idle_seconds,
                            clients=1)
        idle = await measure(ctx, "idle", *ports, rate=sizes.e2e_idle_rate, seconds=sizes.e2e_idle_fanout_seconds)
        figures = await measure(ctx, "scoreboard", *ports)
    achieved = figures["load"]["achieved"]
    where = f"at {sizes.e2e_rate:,} ev/s offered ({achieved:,.0f} sent), {sizes.e2e_clients:,} clients"
    if figures["p99_ms"] is None:
        where += f"; {1 - figures['delivered']:.0%} not delivered within {TAIL_S:.0f} s"
    p50, p99 = figures["p50_ms"], figures["p99_ms"]
    idle_where = f"idle: {sizes.e2e_idle_rate} ev/s, {sizes.e2e_clients:,} clients"
    if idle["p99_ms"] is None:
        idle_where += f"; {1 - idle['delivered']:.0%} not delivered within {TAIL_S:.0f} s"
    ctx.shared.update(e2e_p50=p50, e2e_p99=p99)
    emit_ms = EMIT_INTERVAL_MS
    two_hops = 2 * hop["p50_ms"] if hop["p50_ms"] is not None else None
    rows = [
        Row("3 end-to-end", f"p50 {idle_where}", idle["p50_ms"], "ms", "2 bare Kafka hops (p50 × 2)", two_hops,
            "≤ 20 ms", idle["p50_ms"] is not None and idle["p50_ms"] <= 20),
        Row("3 end-to-end", f"p99 {idle_where}", idle["p99_ms"], "ms", "", None, "≤ 50 ms",
            idle["p99_ms"] is not None and idle["p99_ms"] <= 50),
        Row("3 end-to-end", f"p50 idle: {sizes.e2e_idle_rate} ev/s, 1 client (the pipeline without the fan-out)",
            one["p50_ms"], "ms", "2 bare Kafka hops (p50 × 2)", two_hops),
        Row("3 end-to-end", f"p99 idle: {sizes.e2e_idle_rate} ev/s, 1 client", one["p99_ms"], "ms"),
        Row("3 end-to-end", f"p50 {where}", p50, "ms", "", None, "≤ 30 ms", p50 is not None and p50 <= 30),
        Row("3 end-to-end", f"p99 {where}", p99, "ms", f"3 × the emit interval ({emit_ms} ms)", 3 * emit_ms,
            f"≤ {3 * emit_ms} ms", p99 is not None and p99 <= 3 * emit_ms),
        Row("3 end-to-end", f"p99 / p50 {where}", None if not (p50 and p99) else p99 / p50, "×", "", None, "≤ 3",
            p50 is not None and p99 is not None and p99 <= 3 * p50),
        Row("3 end-to-end", f"max {where}", figures["max_ms"], "ms"),
    ]
    return BenchResult("e2e", "End-to-end latency", rows, {
        "scoreboard": figures, "idle": idle, "idle_one_client": one, "kafka_hop": hop,
        "users": sizes.e2e_users, "rate": sizes.e2e_rate,
        "idle_rate": sizes.e2e_idle_rate, "clients": sizes.e2e_clients, "emit_interval_ms": emit_ms})
