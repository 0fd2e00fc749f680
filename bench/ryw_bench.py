"""Bench 6, read your writes: once ``POST /scores`` has answered 200, how long until ``GET /leaderboard`` and an
open stream show it — ours and the Redis design's, at idle and under load.

A probe user posts one event at a time (at idle ``IDLE_PAUSE_S`` apart, as a player would: each write finds the
boards quiet; under load back to back) and waits for the 200 (ours: after the worker applied it; the Redis
design: after ``ZINCRBY``). From the moment the 200 arrives, ``GET /leaderboard?limit=10`` is polled every
``POLL_S`` until the probe's row shows the new total (the GET figure), and an SSE client connected beforehand
records when a board with it arrived (the stream figure; a board that arrived before the 200 counts as 0 ms).
Idle: nothing else runs. Under load: the load generator of bench 3 posts ``e2e_rate`` events/s (``Prefer:
respond-async`` for ours, as in bench 3) over ``LOAD_USERS`` users, so with the probe every user fits the Redis
design's top 10 and the probe is always on both boards. The first second of the load is left out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson

from bench import redis_bench
from bench.context import API_KEY, Context
from bench.latency import summary
from bench.procs import run_tool
from bench.results import BenchResult, Row

POLL_S = 0.002
IDLE_PAUSE_S = 0.25  # between idle probes: longer than the boards' coalescing interval, so each finds them quiet
LOAD_USERS = 8
WARMUP_S = 1.0
PROBE_ACTION = "find_secret"


class Stream:
    """One SSE client: when each board arrived and the probe's score on it."""

    def __init__(self, client: httpx.AsyncClient, path: str, probe: str) -> None:
        self.client, self.path, self.probe = client, path, probe
        self.seen: list[tuple[float, int]] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Stream:
        connected = asyncio.Event()
        self.task = asyncio.create_task(self._follow(connected))
        await asyncio.wait_for(connected.wait(), 30)
        return self

    async def _follow(self, connected: asyncio.Event) -> None:
        async with self.client.stream("GET", self.path) as response:
            connected.set()
            async for line in response.aiter_lines():
                if line.startswith("data:"):  # one data line per event: the board JSON
                    rows = orjson.loads(line[5:])["data"]
                    score = next((r["score"] for r in rows if r["user_id"] == self.probe), None)
                    if score is not None:
                        self.seen.append((time.monotonic(), score))

    def first_with(self, score: int) -> float | None:
        return next((t for t, s in self.seen if s >= score), None)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def probe(post: httpx.AsyncClient, get: httpx.AsyncClient, stream: Stream, user: str,
                until: float | None, count: int, pause: float = 0.0) -> tuple[list[float], list[float]]:
    """Probes one after the other (``count`` of them, or until ``until``): the GET and stream lags in seconds."""
    get_lags: list[float] = []
    stream_lags: list[float] = []
    while len(get_lags) < count if until is None else time.monotonic() < until:
        answer = await post.post("/scores", json={"user_id": user, "action_id": PROBE_ACTION})
        answer.raise_for_status()
        total, answered = int(answer.json()["new_score"]), time.monotonic()
        while not any(r["user_id"] == user and r["score"] >= total
                      for r in (await get.get("/leaderboard", params={"limit": 10})).json()["data"]):
            if time.monotonic() - answered > 10:
                raise TimeoutError(f"probe total {total} not on GET /leaderboard after 10 s")
            await asyncio.sleep(POLL_S)
        get_lags.append(time.monotonic() - answered)
        while (arrived := stream.first_with(total)) is None:
            if time.monotonic() - answered > 10:
                raise TimeoutError(f"probe total {total} not on the stream after 10 s")
            await asyncio.sleep(POLL_S)
        stream_lags.append(max(0.0, arrived - answered))
        await asyncio.sleep(pause)
    return get_lags, stream_lags


async def measure(ctx: Context, label: str, api_url: str, api_headers: dict[str, str], load_headers: dict[str, str],
                  read_url: str, stream_path: str) -> dict[str, Any]:
    sizes, user = ctx.sizes, f"probe-{uuid.uuid4().hex[:6]}"
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=api_url, headers=api_headers, timeout=30) as post, \
            httpx.AsyncClient(base_url=read_url, timeout=30) as get:
        stream = await Stream(get, stream_path, user).start()
        try:
            idle = await probe(post, get, stream, user, None, sizes.ryw_probes, IDLE_PAUSE_S)
            port = int(api_url.rsplit(":", 1)[1])
            cfg = {"host": "127.0.0.1", "port": port, "path": "/scores", "headers": load_headers,
                   "rate": sizes.e2e_rate, "seconds": sizes.e2e_seconds, "warmup_s": 0.0, "conns": 32,
                   "users": LOAD_USERS, "user_prefix": f"ryw{uuid.uuid4().hex[:6]}-", "action": "complete_level_1"}
            load = asyncio.create_task(run_tool(["-m", "bench.loadgen", orjson.dumps(cfg).decode()],
                                                timeout=sizes.e2e_seconds + 60))
            await asyncio.sleep(WARMUP_S)
            loaded = await probe(post, get, stream, user, time.monotonic() + sizes.e2e_seconds - WARMUP_S, 0)
            achieved = orjson.loads(await load)["achieved"]
        finally:
            await stream.stop()
    for name, (get_lags, stream_lags) in (("idle", idle), ("load", loaded)):
        figures[name] = {"get": summary(get_lags, len(get_lags)), "stream": summary(stream_lags, len(stream_lags)),
                         "probes": len(get_lags)}
    figures["load_achieved"] = achieved
    for name in ("idle", "load"):
        f = figures[name]
        print(f"    {label} {name}: GET p50 {f['get']['p50_ms']:.1f} / p99 {f['get']['p99_ms']:.1f} ms, stream p50 "
              f"{f['stream']['p50_ms']:.1f} / p99 {f['stream']['p99_ms']:.1f} ms ({f['probes']} probes)",
              flush=True)
    return figures


async def run(ctx: Context) -> BenchResult:
    async with AsyncExitStack() as stack:
        prefix, _ = await ctx.new_topics()
        await ctx.start_worker(stack, prefix)
        _, api_url = await ctx.start_api(stack, prefix)
        _, sse_url = await ctx.start_sse(stack, prefix)
        ours = await measure(ctx, "scoreboard", api_url, {"X-API-KEY": API_KEY},
                             {"X-API-KEY": API_KEY, "Prefer": "respond-async"}, sse_url, "/leaderboard/stream")
    async with AsyncExitStack() as stack:
        url = await redis_bench.start_redis_design(ctx, stack)
        redis = await measure(ctx, "redis", url, {"X-API-KEY": API_KEY}, {"X-API-KEY": API_KEY}, url,
                              "/leaderboard/stream")
    rate = f"{ctx.sizes.e2e_rate:,} ev/s offered ({ours['load_achieved']:,.0f} sent)"
    rows: list[Row] = []
    for name, where in (("idle", "at idle"), ("load", f"at {rate}")):
        for read in ("get", "stream"):
            what = "GET /leaderboard" if read == "get" else "the stream"
            for q in ("p50", "p99"):
                value, ref = ours[name][read][f"{q}_ms"], redis[name][read][f"{q}_ms"]
                target, met = "", None
                if (name, read, q) == ("idle", "get", "p99"):
                    target, met = "≤ 250 ms", value is not None and value <= 250
                rows.append(Row("6 read your writes", f"200 -> {what} {q} {where}", value, "ms", "Redis design",
                                ref, target, met))
    return BenchResult("ryw", "Read your writes: from the 200 to GET and the stream", rows,
                       {"scoreboard": ours, "redis": redis, "load_users": LOAD_USERS})
