"""Bench 7, where the worker's Kafka consumer runs: on the worker's event loop (ours) or in Faust's thread.

Faust runs the aiokafka consumer in a thread with an event loop of its own; ``stream_app.faust_internals.same_loop``
runs it on the worker's loop (``SCOREBOARD_WORKER_CONSUMER=same-loop``, the default) and ``thread`` keeps Faust's
way. Records are produced straight to ``score-events`` at ``RATE`` events/s for ``seconds``; each one's latency
runs from its broker timestamp on ``score-events`` (``LogAppendTime``) to the timestamp of its answer on
``score-applied`` (set by the worker's producer; one clock, one machine). The worker's CPU over the run is
reported too. The two ways run one after the other on fresh topics (`make bench` repeats the bench, so they
alternate: drift on a shared machine hits both).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.context import Context
from bench.latency import summary
from bench.procs import cpu_seconds
from bench.results import BenchResult, Row
from schemas.runtime.kafka import assign_all_partitions

RATE = 300
USERS = 1000
MODES = ("same-loop", "thread")
SECONDS = 8.0
# sent but not timed: for ~2 s after /readyz the worker still reads leaderboard-final and leaderboard-updates
# (sealing finals, the last board versions), and the events of those seconds wait ~1.5 s (measured 2026-12-02;
# an open readiness problem, see docs/performance.md); this bench compares the steady path of the two consumers
WARMUP_S = 3.0


async def one_run(ctx: Context, mode: str, rate: int, seconds: float, warmup_s: float) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        prefix, names = await ctx.new_topics()
        worker = await ctx.start_worker(stack, prefix, name=f"worker-{mode}", SCOREBOARD_WORKER_CONSUMER=mode)
        producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks="all", linger_ms=0)
        await producer.start()
        stack.push_async_callback(producer.stop)
        answers = AIOKafkaConsumer(bootstrap_servers=ctx.bootstrap, group_id=None, enable_auto_commit=False,
                                   fetch_max_wait_ms=50)
        await answers.start()
        stack.push_async_callback(answers.stop)
        await answers.seek_to_beginning(*await assign_all_partitions(answers, names.applied))
        sent: dict[str, int] = {}  # event id -> broker timestamp of the record (ms)
        applied: dict[str, int] = {}
        total = int(rate * seconds)

        async def read_answers() -> None:
            while len(applied) < total:
                for records in (await answers.getmany(timeout_ms=200)).values():
                    for r in records:
                        applied[orjson.loads(r.value)["event_id"]] = r.timestamp

        reader = asyncio.create_task(read_answers())
        cpu_before, started = cpu_seconds(worker.pid), time.monotonic()
        for i in range(total):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            user, event_id = f"c{i % USERS}", f"{uuid.uuid4().hex[:8]}-{i}"
            value = orjson.dumps({"user_id": user, "action_id": "win_match", "event_id": event_id,
                                  "occurred_at": datetime.now(UTC)})
            future = await producer.send(names.score_events, value, key=user.encode())
            future.add_done_callback(lambda f, e=event_id: sent.__setitem__(e, f.result().timestamp))
        await asyncio.wait_for(reader, 60 + seconds)
        cpu = cpu_seconds(worker.pid) - cpu_before
        # the first warmup_s of records meet a worker that has just started (see WARMUP_S): not counted
        timed = {e: t for e, t in sent.items() if int(e.rsplit("-", 1)[1]) >= rate * warmup_s}
        lags = [(applied[e] - t) / 1000 for e, t in timed.items() if e in applied]
        figures = summary(lags, len(timed))
        figures.update(mode=mode, worker_cpu_s=cpu, seconds=seconds, rate=rate)
        unanswered = len(timed) - figures["samples"]
        print(f"    {mode}: p50 {_ms(figures['p50_ms'])}, p99 {_ms(figures['p99_ms'])}, "
              f"{unanswered} of {len(timed)} timed events unanswered, worker CPU {cpu:.1f} s", flush=True)
        return figures


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


async def run(ctx: Context) -> BenchResult:
    # the smoke run is too short to leave a warm-up out: every record is timed
    rate, seconds, warmup_s = (20, 2.0, 0.0) if ctx.smoke else (RATE, SECONDS, WARMUP_S)
    runs = [await one_run(ctx, mode, rate, seconds, warmup_s) for mode in MODES]
    by_mode: dict[str, list[dict[str, Any]]] = {m: [r for r in runs if r["mode"] == m] for m in set(MODES)}

    def best(mode: str, key: str) -> float | None:
        values = [r[key] for r in by_mode[mode] if r[key] is not None]
        return min(values) if values else None

    rows = [
        Row("7 consumer", f"produce -> score-applied {q} at {rate} ev/s, same loop",
            best("same-loop", f"{q}_ms"), "ms", "Faust's consumer thread", best("thread", f"{q}_ms"))
        for q in ("p50", "p99")
    ]
    rows.append(Row("7 consumer", f"worker CPU for {rate * seconds:,.0f} events, same loop",
                    best("same-loop", "worker_cpu_s"), "s", "Faust's consumer thread", best("thread", "worker_cpu_s")))
    return BenchResult("consumer", "Where the worker's Kafka consumer runs", rows, {"runs": runs})
