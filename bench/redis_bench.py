"""Bench 5, the classic design side by side: ``bench/baselines/redis_app.py`` under the same load generator.

A private ``redis-server`` (no persistence) and the reference app are started here. Ingest: the same step
search as bench 2 (the reference answers 200 once ``ZINCRBY`` is done, its only mode). End-to-end: the same
measurement as bench 3 (same rate, clients, users), after the sorted set is deleted so the board starts empty.
Our figures come from benches 2 and 3 of the same run (absent when those were not run).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx

from bench import e2e_bench, ingest_bench
from bench.baselines.redis_app import SCORES
from bench.baselines.redis_server import RedisServer
from bench.context import API_KEY, Context
from bench.results import BenchResult, Row
from tools.kafka_local import free_port


async def start_redis_design(ctx: Context, stack: AsyncExitStack) -> str:
    """A private ``redis-server`` and the reference app on it (stopped with ``stack``); the app's URL."""
    _, _, url = await _start(ctx, stack)
    return url


async def _start(ctx: Context, stack: AsyncExitStack) -> tuple[RedisServer, Any, str]:
    server = RedisServer(ctx.run_dir)
    stack.push_async_callback(server.stop_async, 20)
    await server.start_async(30)
    port = free_port()
    app, url = await ctx.start_http(
        stack, "redis-app", ["-m", "bench.baselines.redis_app", str(port), str(server.port), API_KEY],
        ctx.env(""), port)
    return server, app, url


async def run(ctx: Context) -> BenchResult:
    async with AsyncExitStack() as stack:
        server, app, url = await _start(ctx, stack)
        port = int(url.rsplit(":", 1)[1])
        print("  classic design (FastAPI + Redis, 200 after ZINCRBY):", flush=True)
        ingest = await ingest_bench.search_server(ctx, "redis ingest", url, ingest_bench.SYNC,
                                                  [app.pid, server.pid], 200)
        await server.delete(SCORES)  # an empty board again; the version keeps growing, as versions must
        async with httpx.AsyncClient(base_url=url, headers=ingest_bench.SYNC) as client:  # a board to connect to
            seeded = await client.post("/scores", json={"user_id": "seed", "action_id": "daily_login"})
            seeded.raise_for_status()
        e2e = await e2e_bench.measure(ctx, "redis", port, ingest_bench.SYNC, port, "/leaderboard/stream")
    return result(ctx, ingest, e2e)


def result(ctx: Context, ingest: dict[str, Any], e2e: dict[str, Any]) -> BenchResult:
    redis_rate, redis_p99 = ingest["best_rate"], e2e["p99_ms"]
    ours_202, ours_200 = ctx.shared.get("ingest_202"), ctx.shared.get("ingest_200")
    ours_p50, ours_p99 = ctx.shared.get("e2e_p50"), ctx.shared.get("e2e_p99")

    def at_least(ours: float | None) -> bool | None:
        return None if ours is None else ours >= redis_rate

    rows = [
        Row("5 vs Redis", "ingest at p99 < 50 ms, ours 202", ours_202, "ev/s", "Redis design (200)", redis_rate,
            "ratio ≥ 1", at_least(ours_202)),
        Row("5 vs Redis", "ingest at p99 < 50 ms, ours 200 after apply", ours_200, "ev/s", "Redis design (200)",
            redis_rate, "ratio ≥ 1", at_least(ours_200)),
        Row("5 vs Redis", "end-to-end p50, ours", ours_p50, "ms", "Redis design", e2e["p50_ms"]),
        Row("5 vs Redis", "end-to-end p99, ours", ours_p99, "ms", "Redis design", redis_p99, "ratio ≤ 1",
            None if ours_p99 is None else redis_p99 is None or ours_p99 <= redis_p99),
    ]
    data = {"redis_ingest": ingest, "redis_e2e": e2e, "ours": dict(ctx.shared)}
    return BenchResult("redis", "The classic design (FastAPI + Redis), side by side", rows, data)
