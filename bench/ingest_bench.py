"""Bench 2, HTTP ingest: sustained ``POST /scores`` events/s at p99 < 50 ms, both answer modes, vs bare FastAPI.

Three servers, one after the other, each under the same separate load generator (open loop, step search):
1. the bare FastAPI endpoint (``bench/baselines/bare_fastapi.py``): the framework ceiling;
2. ``producer_api`` with ``Prefer: respond-async`` (202 once the broker acknowledged the event), no worker;
3. ``producer_api`` answering 200 after apply, with one ``stream_app`` worker running (fresh topics, and the
   worker is let catch up before every step, so no step inherits the backlog of the one before).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx

from bench import profiling, stepsearch
from bench.context import API_KEY, Context
from bench.results import BenchResult, Row
from tools.kafka_local import free_port
from tools.supervisor import Supervisor

ASYNC = {"X-API-KEY": API_KEY, "Prefer": "respond-async"}
SYNC = {"X-API-KEY": API_KEY}
WARMUP_S = 2.0


async def search_server(ctx: Context, key: str, url: str, headers: dict[str, str], pids: list[int],
                        expect: int, before_step: Any = None) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    sizes = ctx.sizes

    async def step_at(rate: float) -> dict[str, Any]:
        return await stepsearch.run_step("127.0.0.1", port, rate, sizes.ingest_step_s, headers, pids,
                                         warmup_s=0.5)

    if not ctx.smoke:  # every server gets the same unmeasured warm-up: the search measures sustained rates, and a
        # first step that fails on start-up transients (fresh partitions, cold broker) would cap the search below it
        if before_step is not None:
            await before_step()
        await stepsearch.run_step("127.0.0.1", port, sizes.ingest_start_rate / 2, WARMUP_S, headers, pids, warmup_s=0)
    found = await stepsearch.search(step_at, ctx.search_start(key, sizes.ingest_start_rate), sizes.ingest_max_rate,
                                    expect, before_step=before_step, bisections=ctx.bisections(key))
    ctx.record_found(key, found["best_rate"])
    return found


def settle_worker(url: str, timeout: float = 120.0) -> Any:
    """Before a 200-mode step: wait until a POST to each of a few users is answered 200 (the worker is current)."""

    async def settle() -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=url, headers=SYNC, timeout=30.0) as client:
            while time.monotonic() < deadline:
                answers = await asyncio.gather(*(
                    client.post("/scores", json={"user_id": f"settle-{i}", "action_id": "daily_login"})
                    for i in range(12)))
                if all(a.status_code == 200 for a in answers):
                    return
            raise TimeoutError(f"the worker did not catch up within {timeout}s")

    return settle


async def run_bare(ctx: Context) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        port = free_port()
        bare, url = await ctx.start_http(stack, "bare-fastapi", ["-m", "bench.baselines.bare_fastapi", str(port)],
                                         ctx.env(""), port)
        print("  bare FastAPI (202, no Kafka):", flush=True)
        return await search_server(ctx, "ingest bare", url, ASYNC, [bare.pid], 202)


async def run_api(ctx: Context, sync: bool) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        prefix, _ = await ctx.new_topics()
        pids: list[int] = []
        worker: Supervisor | None = None
        if sync:
            worker = await ctx.start_worker(stack, prefix)
            pids.append(worker.pid)
        api, url = await ctx.start_api(stack, prefix)
        pids.insert(0, api.pid)
        print(f"  producer_api ({'200 after apply, worker running' if sync else '202, Prefer: respond-async'}):",
              flush=True)
        settle = settle_worker(url) if sync else None
        if settle is not None:
            await settle()
        spy = await profiling.start(api.pid, ctx.run_dir / f"api-{'200' if sync else '202'}-profile.txt") \
            if ctx.profile else None
        found = await search_server(ctx, f"ingest {200 if sync else 202}", url, SYNC if sync else ASYNC, pids,
                                    200 if sync else 202, settle)
        if spy is not None:
            found["api_profile"] = await profiling.stop(spy)
        return found


async def run(ctx: Context) -> BenchResult:
    bare = await run_bare(ctx)
    async_mode = await run_api(ctx, sync=False)
    sync_mode = await run_api(ctx, sync=True)
    ceiling = bare["best_rate"]
    r202, r200 = async_mode["best_rate"], sync_mode["best_rate"]
    ctx.shared.update(ingest_202=r202, ingest_200=r200)
    rows = [
        Row("2 ingest", "POST /scores 202 at p99 < 50 ms", r202, "ev/s", "bare FastAPI", ceiling,
            "≥ 5,000 and ratio ≥ 0.6", r202 >= 5000 and ceiling > 0 and r202 / ceiling >= 0.6),
        Row("2 ingest", "POST /scores 200 after apply at p99 < 50 ms", r200, "ev/s", "bare FastAPI", ceiling,
            "≥ 3,000 and ratio ≥ 0.6", r200 >= 3000 and ceiling > 0 and r200 / ceiling >= 0.6),
    ]
    data = {"p99_bound_ms": stepsearch.P99_BOUND_MS, "connections": stepsearch.CONNS, "bare_fastapi": bare,
            "api_202": async_mode, "api_200": sync_mode}
    return BenchResult("ingest", "HTTP ingest", rows, data)
