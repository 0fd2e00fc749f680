"""Bench 1, worker throughput: events/s one ``stream_app`` worker applies, beside a bare aiokafka consumer.

``score-events`` is pre-filled (N events over U users, 6 partitions, as the API writes them: event id and
``occurred_at``). Then (a) the bare consumer reads it all (the Python ceiling), and (b) one worker process
starts on it. The worker's figure runs from its first ``score-applied`` record to the moment every board is
up to date: N distinct event ids answered on ``score-applied`` *and* an ``alltime`` board on
``leaderboard-updates`` whose scores equal the expected top-K (computed here from the events). Both ends use
the records' broker timestamps, set by the worker's producer. Startup (process start to the worker's ``/readyz``
answering 200) is reported separately.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import profiling
from bench.context import Context
from bench.procs import cpu_seconds, run_tool
from bench.results import BenchResult, Row
from schemas.runtime.kafka import assign_all_partitions
from schemas.topics import TopicNames

log = logging.getLogger(__name__)
ACTIONS = {"complete_level_1": 10, "complete_level_5": 50, "daily_login": 5, "win_match": 25}
TOP_K = 100  # the services' default SCOREBOARD_TOP_K
APPLY_TIMEOUT_S = 420.0  # bounds the whole bench: every event must be applied by then
BOARD_GRACE_S = 60.0  # after the last apply, how long the boards may take to be final before we stop waiting


def make_events(n: int, users: int, seed: int = 5) -> tuple[list[tuple[bytes, bytes]], dict[str, int]]:
    rng = random.Random(seed)
    names = list(ACTIONS)
    now = datetime.now(UTC).isoformat()
    records: list[tuple[bytes, bytes]] = []
    totals: dict[str, int] = {}
    for i in range(n):
        user = f"user-{rng.randrange(users)}"
        action = rng.choice(names)
        totals[user] = totals.get(user, 0) + ACTIONS[action]
        value = {"user_id": user, "action_id": action, "event_id": f"bench-{i}", "occurred_at": now}
        records.append((user.encode(), orjson.dumps(value)))
    return records, totals


async def prefill(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    start = time.monotonic()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - start


class Watcher:
    """Tails ``score-applied`` and ``leaderboard-updates`` until all events are answered and the board is final."""

    def __init__(self, bootstrap: str, names: TopicNames, expected: int, final_scores: list[int]) -> None:
        self.bootstrap = bootstrap
        self.names = names
        self.expected = expected
        self.final_scores = final_scores
        self.event_ids: set[str] = set()
        self.applied_ms: list[int] = []
        self.first_applied_ms: int | None = None
        self.last_applied_ms = 0
        self.board_final_ms: int | None = None
        self.boards_seen = 0
        self.last_board_top: list[int] = []

    @property
    def all_applied(self) -> bool:
        return len(self.event_ids) >= self.expected

    async def run(self, apply_timeout: float, board_grace: float) -> None:
        """Until every event is answered (else TimeoutError), then until the final board or ``board_grace`` s."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=100)
        await consumer.start()
        try:
            tps = await assign_all_partitions(consumer, self.names.applied)
            tps += await assign_all_partitions(consumer, self.names.leaderboard_updates)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            deadline = time.monotonic() + apply_timeout
            while self.board_final_ms is None or not self.all_applied:  # the board can be final first
                if time.monotonic() > deadline:
                    if not self.all_applied:
                        raise TimeoutError(f"the worker applied {len(self.event_ids)}/{self.expected} events "
                                           f"within {apply_timeout}s")
                    return  # every event applied, but the boards did not catch up within the grace time
                batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
                was_applied = self.all_applied
                for tp, records in batch.items():
                    for record in records:
                        if tp.topic == self.names.applied:
                            self._applied(record)
                        else:
                            self._board(record)
                if self.all_applied and not was_applied:
                    deadline = time.monotonic() + board_grace
        finally:
            await consumer.stop()

    def _applied(self, record: Any) -> None:
        self.event_ids.add(orjson.loads(record.value)["event_id"])
        self.applied_ms.append(record.timestamp)
        if self.first_applied_ms is None or record.timestamp < self.first_applied_ms:
            self.first_applied_ms = record.timestamp
        self.last_applied_ms = max(self.last_applied_ms, record.timestamp)

    def timeline(self) -> list[int]:
        """Records applied in each second from the first one (to see pauses and the steady rate)."""
        if not self.applied_ms:
            return []
        first = min(self.applied_ms)
        counts = [0] * ((max(self.applied_ms) - first) // 1000 + 1)
        for ms in self.applied_ms:
            counts[(ms - first) // 1000] += 1
        return counts

    def _board(self, record: Any) -> None:
        if record.key != b"alltime" or record.value is None or self.board_final_ms is not None:
            return
        self.boards_seen += 1
        scores = [row["score"] for row in orjson.loads(record.value)["data"]]
        self.last_board_top = scores[:5]
        if scores == self.final_scores:
            self.board_final_ms = record.timestamp


async def run(ctx: Context) -> BenchResult:
    n, users = ctx.sizes.worker_events, ctx.sizes.worker_users
    prefix, names = await ctx.new_topics()
    records, totals = make_events(n, users)
    fill_s = await prefill(ctx.bootstrap, names.score_events, records)
    bare = orjson.loads(await run_tool(["-m", "bench.bare_consumer", ctx.bootstrap, names.score_events, str(n)],
                                       timeout=300))
    final_scores = sorted(totals.values(), reverse=True)[:TOP_K]
    watcher = Watcher(ctx.bootstrap, names, n, final_scores)
    profile: dict[str, Any] = {}
    spy = None
    async with AsyncExitStack() as stack:
        watch = asyncio.create_task(watcher.run(APPLY_TIMEOUT_S, BOARD_GRACE_S))
        try:
            worker = await ctx.start_worker(stack, prefix)
            cpu_at_ready, ready_at = cpu_seconds(worker.pid), time.monotonic()
            if ctx.profile:
                spy = await profiling.start(worker.pid, ctx.run_dir / "worker-profile.txt")
            await watch
            worker_cpu_s = cpu_seconds(worker.pid) - cpu_at_ready
            worker_cpu = worker_cpu_s / (time.monotonic() - ready_at)
        finally:
            watch.cancel()
            if spy is not None:
                profile = await profiling.stop(spy)
    assert watcher.first_applied_ms is not None
    applied_s = max(watcher.last_applied_ms - watcher.first_applied_ms, 1) / 1000
    applied_rate = n / applied_s
    boards_rate = None
    if watcher.board_final_ms is not None:
        boards_rate = n / (max(watcher.board_final_ms, watcher.last_applied_ms) - watcher.first_applied_ms) * 1000
    data = {
        "events": n, "users": users, "partitions": 6, "prefill_s": fill_s, "bare_consumer": bare,
        "worker_startup_s": worker.ready_after, "worker_cpu_cores": worker_cpu, "worker_cpu_s": worker_cpu_s,
        "events_per_cpu_s": n / worker_cpu_s if worker_cpu_s > 0 else None, "applied_s": applied_s,
        "applied_events_per_s": applied_rate,
        "boards_final": watcher.board_final_ms is not None, "boards_events_per_s": boards_rate,
        "board_lag_after_last_applied_ms": (None if watcher.board_final_ms is None
                                            else watcher.board_final_ms - watcher.last_applied_ms),
        "board_grace_s": BOARD_GRACE_S, "last_board_top5": watcher.last_board_top,
        "expected_top5": final_scores[:5], "alltime_boards_emitted": watcher.boards_seen,
        "applied_per_second": watcher.timeline(), "profiled": ctx.profile, "profile": profile,
    }
    ceiling = bare["events_per_s"]

    def met(rate: float | None) -> bool:
        return rate is not None and rate >= 20_000 and rate / ceiling >= 0.5

    boards_figure = ("events/s to all boards updated" if boards_rate is not None
                     else f"events/s to all boards updated (not within {BOARD_GRACE_S:.0f}s of the last apply)")
    rows = [
        Row("1 worker", boards_figure, boards_rate, "ev/s", "bare aiokafka consumer", ceiling,
            "≥ 20,000 and ratio ≥ 0.5", met(boards_rate)),
        Row("1 worker", "events/s applied (score-applied)", applied_rate, "ev/s", "bare aiokafka consumer", ceiling,
            "≥ 20,000 and ratio ≥ 0.5", met(applied_rate)),
        Row("1 worker", "events per CPU-second of the worker process (ready to the final board)",
            data["events_per_cpu_s"], "ev/CPU-s", "", None, "≥ 20,000 (one core)",
            data["events_per_cpu_s"] is not None and data["events_per_cpu_s"] >= 20_000),
        Row("1 worker", "worker startup to ready", worker.ready_after, "s"),
    ]
    return BenchResult("worker", "Worker throughput", rows, data)
