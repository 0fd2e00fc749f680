"""Bench 11, boards as data: worker events/s with 1 board and with 6, beside the bare consumer, in one run.

The same events (bench 1's shape: at most :data:`EVENTS` of ``worker_events`` over ``worker_users``, 6 partitions,
as the API writes them; fewer than bench 1, to keep ``make bench`` in its 15 minutes) are written to two topic sets.
A worker with the default boards (``global`` only) applies the first; a worker with 6 boards (``global``, added to
every file; a ``sum`` board of one action; a ``max`` board; three boards windowed daily, weekly and monthly in
Pacific/Auckland, America/Los_Angeles and Europe/Berlin: 16 board keys against 3) applies the second. Each figure is
bench 1's: events from the first to the last ``score-applied`` record (broker times), and the ``global`` board final
on ``leaderboard-updates``; with the events per CPU-second of each worker. The target: the 6-board figure at least
half the 1-board figure.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import orjson

from bench.context import Context
from bench.procs import cpu_seconds, run_tool
from bench.results import BenchResult, Row
from bench.worker_bench import APPLY_TIMEOUT_S, BOARD_GRACE_S, TOP_K, Watcher, make_events, prefill

EVENTS = 40_000  # per run: ~20 s of apply for the two workers together on this 2-core box
SIX_BOARDS = """
wins: {actions: [win_match], windows: [alltime, daily, weekly]}
best-action: {aggregation: max, windows: [alltime, weekly]}
auckland: {windows: [alltime, daily, weekly], timezone: Pacific/Auckland}
los-angeles: {actions: [win_match, daily_login], windows: [daily, monthly], timezone: America/Los_Angeles}
berlin: {windows: [daily, weekly, monthly], timezone: Europe/Berlin}
"""


async def _worker_rate(ctx: Context, records: list[tuple[bytes, bytes]], totals: dict[str, int],
                       **env: str) -> dict[str, Any]:
    prefix, names = await ctx.new_topics()
    await prefill(ctx.bootstrap, names.score_events, records)
    watcher = Watcher(ctx.bootstrap, names, len(records), sorted(totals.values(), reverse=True)[:TOP_K])
    async with AsyncExitStack() as stack:
        watch = asyncio.create_task(watcher.run(APPLY_TIMEOUT_S, BOARD_GRACE_S))
        try:
            worker = await ctx.start_worker(stack, prefix, **env)
            cpu_at_ready, ready_at = cpu_seconds(worker.pid), time.monotonic()
            await watch
            cpu = cpu_seconds(worker.pid) - cpu_at_ready
            wall = time.monotonic() - ready_at
        finally:
            watch.cancel()
    assert watcher.first_applied_ms is not None
    applied_s = max(watcher.last_applied_ms - watcher.first_applied_ms, 1) / 1000
    return {"events_per_s": len(records) / applied_s, "applied_s": applied_s, "cpu_s": cpu, "wall_s": wall,
            "events_per_cpu_s": len(records) / cpu if cpu > 0 else None,
            "global_board_final": watcher.board_final_ms is not None}


async def run(ctx: Context) -> BenchResult:
    n, users = min(ctx.sizes.worker_events, EVENTS), ctx.sizes.worker_users
    records, totals = make_events(n, users)
    prefix, names = await ctx.new_topics()
    await prefill(ctx.bootstrap, names.score_events, records)
    bare = orjson.loads(await run_tool(["-m", "bench.bare_consumer", ctx.bootstrap, names.score_events, str(n)],
                                       timeout=300))
    one = await _worker_rate(ctx, records, totals)
    boards_file = ctx.run_dir / "six-boards.yaml"
    boards_file.write_text(SIX_BOARDS)
    six = await _worker_rate(ctx, records, totals, SCOREBOARD_BOARDS_FILE=str(boards_file))
    ratio = six["events_per_s"] / one["events_per_s"]
    data = {"events": n, "users": users, "bare_consumer": bare, "one_board": one, "six_boards": six,
            "ratio_six_to_one": ratio, "six_boards_file": SIX_BOARDS}
    rows = [
        Row("1 worker, 1 board", "events/s applied", one["events_per_s"], "ev/s", "bare aiokafka consumer",
            bare["events_per_s"]),
        Row("1 worker, 6 boards (3 in non-UTC zones)", "events/s applied", six["events_per_s"], "ev/s",
            "1 board, same run", one["events_per_s"], "≥ 0.5 × 1 board", ratio >= 0.5),
        Row("1 worker, 6 boards", "events per CPU-second", six["events_per_cpu_s"], "ev/CPU-s",
            "1 board, same run", one["events_per_cpu_s"]),
    ]
    return BenchResult("boards", "Boards as data: 1 board vs 6", rows, data)
