"""Bench 9, flood: the read API's RSS before, during and after a flood of idle SSE streams — is the memory handed
back when the clients leave?

A fresh ``sse_server`` (on fresh topics, one board of ``fanout_rows`` rows) is flooded twice with the largest
fan-out count of idle ``alltime`` streams (``bench.swarm`` client processes); each time the clients are killed
(the kernel closes their sockets), the server is polled until ``scoreboard_sse_clients`` is 0 and then for a few
seconds more, and its VmRSS is read. "Kept" = RSS after the flood left - RSS before the first flood; the second
flood shows whether what is kept is reused (fragmentation: flat) or piles up (a leak: grows again). Run it with
``PYTHONMALLOC=malloc`` in the environment to measure the read API on the C allocator (``sse_server/memory.py``).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.context import Context
from bench.fanout_bench import board
from bench.procs import rss_kb
from bench.results import BenchResult, Row
from bench.swarm import Swarm

SETTLE_S = 3.0  # after the last stream is gone: the server's malloc_trim runs on a 1 s tick (three ticks)


async def open_streams(url: str) -> float:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("scoreboard_sse_clients{"))


async def flood(url: str, pid: int, clients: int) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    swarm = await Swarm("127.0.0.1", port, "/leaderboard/stream?window=alltime", clients).start()
    try:
        connected_kb = rss_kb(pid)
    finally:
        await swarm.kill()
    deadline = time.monotonic() + 120
    while await open_streams(url) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the streams of the killed clients were not released within 120 s")
        await asyncio.sleep(0.2)
    gone_kb = rss_kb(pid)
    await asyncio.sleep(SETTLE_S)  # a fixed settling time for a figure, not a condition
    return {"connected": swarm.connected, "rss_connected_kb": connected_kb, "rss_gone_kb": gone_kb,
            "rss_settled_kb": rss_kb(pid)}


async def run(ctx: Context) -> BenchResult:
    clients = max(ctx.sizes.fanout_counts)
    async with AsyncExitStack() as stack:
        prefix, names = await ctx.new_topics()
        producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks=1, linger_ms=0)
        await producer.start()
        stack.push_async_callback(producer.stop)
        await producer.send_and_wait(names.leaderboard_updates, board(1, ctx.sizes.fanout_rows), key=b"alltime")
        sse, url = await ctx.start_sse(stack, prefix, name="sse-flood")
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(20):  # warm: what the first requests allocate is not the flood's
                await client.get(f"{url}/leaderboard")
        before_kb = rss_kb(sse.pid)
        first = await flood(url, sse.pid, clients)
        second = await flood(url, sse.pid, clients)
    kept = (first["rss_settled_kb"] - before_kb) / 1024
    again = (second["rss_settled_kb"] - before_kb) / 1024
    print(f"    {clients} idle streams: RSS {before_kb / 1024:.0f} MiB before, {first['rss_connected_kb'] / 1024:.0f} "
          f"connected, {first['rss_settled_kb'] / 1024:.0f} after they left ({kept:+.0f}); second flood "
          f"{second['rss_connected_kb'] / 1024:.0f} connected, {second['rss_settled_kb'] / 1024:.0f} after "
          f"({again:+.0f})", flush=True)
    rows = [
        Row("9 flood", f"RSS with {clients} idle streams", first["rss_connected_kb"] / 1024, "MiB"),
        Row("9 flood", "RSS kept after they left (vs before)", kept, "MiB"),
        Row("9 flood", "RSS kept after a second flood left", again, "MiB"),
    ]
    return BenchResult("flood", "SSE flood: memory handed back", rows,
                       {"clients": clients, "rss_before_kb": before_kb, "first": first, "second": second})
