"""Bench 6, a Kafka Streams baseline: our worker and a Kafka Streams app (EOS v2) on the same events, in one run.

Why: a team choosing a Kafka-native leaderboard compares us with Kafka Streams, and on a shared 2-core box
events/s alone says as much about the neighbours as about the code; **events per CPU-second of the processing
process** (utime + stime of every thread, from ``/proc/<pid>/stat``: the worker's Python process, the app's JVM
with its GC and JIT threads) is the fair figure, and the ratio ours / theirs of it is the headline (goal ≥ 1.0).
The baseline is ``bench/baselines/kstreams`` (see ``bench.baselines.kstreams_app``); it does the worker's job —
per-user all-time, UTC-day and ISO-week totals, event-id dedup, an exact two-stage top-K per board — and writes
each board, as JSON in our ``leaderboard-updates`` shape, to an output topic of its own.

One run, on one ``score-events`` topic (6 partitions), each system in its own consumer group:

1. N events over U users are produced (``bench.worker_bench.make_events``, as bench 1: event id, ``occurred_at``).
2. **Throughput, one after the other** (each alone on the CPU): our worker starts (as in bench 1) and works off
   the backlog; then the Kafka Streams app starts (application.id of its own) and works off the same backlog while
   our worker, done, idles. For each: CPU-seconds from ready (``/readyz`` 200: ours when partitions are assigned
   and tables recovered, theirs when ``KafkaStreams`` is RUNNING) to the moment a read-committed reader receives
   the all-time board equal to the expected top K (computed here from the events); events/s over the same
   window; and from the first all-time board received to that final one.
3. **Latency, side by side** (the same records reach both at the same moment): L fresh users are first seeded
   above every backlog user (so all of them are on both top-K boards), then ``rate`` events/s for ``seconds`` go
   round robin over them, +10 points each. Event j of user u is *in* a board once the board shows u with at least
   seed + 10·j points; its latency runs from its ``score-events`` broker timestamp (``LogAppendTime``) to the
   wall-clock moment a ``read_committed`` reader received the first such board (for Kafka Streams: only once its
   transaction commits, which is when anyone can read it). One clock, one machine. The first second is warm-up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.baselines import kstreams_app
from bench.context import STOP_S, Context
from bench.latency import summary
from bench.procs import cpu_seconds
from bench.results import BenchResult, Row
from bench.worker_bench import TOP_K, make_events, prefill
from schemas.catalog import ActionCatalog
from schemas.runtime.kafka import assign_all_partitions, plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicSpec
from tools.kafka_local import free_port
from tools.supervisor import Supervisor

CATALOG = Path(__file__).resolve().parents[1] / "schemas" / "actions.example.yaml"
SEED_ACTION, STEP_ACTION = "find_secret", "complete_level_1"  # from the example catalog: 100 and 10 points
EMIT_MS = 100  # SCOREBOARD_EMIT_INTERVAL_MS's default: the baseline emits each changed board as often
THROUGHPUT_TIMEOUT_S = 420.0
SEED_TIMEOUT_S = 120.0
WARMUP_S = 1.0
TAIL_S = 10.0  # after the last event, how long its board may take before it counts as never delivered


@dataclass
class BoardWatcher:
    """Reads one output topic (every partition, no group, ``read_committed``) and keeps the all-time boards."""

    bootstrap: str
    topic: str
    board_key: bytes = b"alltime"
    first_ms: float | None = None  # wall clock (ms) when the first all-time board was received
    boards: int = 0
    last_scores: list[int] = field(default_factory=list)
    # user -> [(received ms, score)] for the users being timed (``track``)
    history: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    tracked: Callable[[str], bool] = lambda _user: False
    _conditions: list[tuple[Callable[[list[dict[str, Any]]], bool], asyncio.Future[float]]] = field(
        default_factory=list)
    last_rows: list[dict[str, Any]] = field(default_factory=list)
    last_ms: float = 0.0
    _task: asyncio.Task[None] | None = None

    async def start(self) -> BoardWatcher:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    isolation_level="read_committed", fetch_max_wait_ms=50)
        await consumer.start()
        try:
            tps = await assign_all_partitions(consumer, self.topic)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        except BaseException:
            await consumer.stop()
            raise
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                now_ms = time.time() * 1000
                for records in batch.values():
                    for record in records:
                        if record.key == self.board_key and record.value is not None:
                            self._board(orjson.loads(record.value)["data"], now_ms)
        finally:
            await consumer.stop()

    def _board(self, rows: list[dict[str, Any]], now_ms: float) -> None:
        self.boards += 1
        if self.first_ms is None:
            self.first_ms = now_ms
        self.last_rows, self.last_ms = rows, now_ms
        self.last_scores = [row["score"] for row in rows]
        for row in rows:
            if self.tracked(row["user_id"]):
                self.history[row["user_id"]].append((now_ms, row["score"]))
        for condition, future in list(self._conditions):
            if not future.done() and condition(rows):
                future.set_result(now_ms)
                self._conditions.remove((condition, future))

    async def until(self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str) -> float:
        """Wall-clock ms when a board satisfying ``condition`` was received (TimeoutError past ``timeout``)."""
        if self.boards and condition(self.last_rows):
            return self.last_ms
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._conditions.append((condition, future))
        assert self._task is not None
        waiting: set[asyncio.Future[Any]] = {future, self._task}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if future in done:
            return future.result()
        if self._task in done:
            self._task.result()  # the reader failed: raise its error
        raise TimeoutError(f"{self.topic}: no board {what} within {timeout:.0f}s "
                           f"(last top 5: {self.last_scores[:5]}, {self.boards} boards)")


@dataclass
class System:
    label: str
    proc: Supervisor
    watcher: BoardWatcher


async def throughput(system: System, events: int, final_scores: list[int], timeout: float) -> dict[str, Any]:
    """From the system's ready to its final all-time board: CPU, events/s (see the module docstring)."""
    cpu_ready = cpu_seconds(system.proc.pid)
    ready_ms = (time.time() - (time.monotonic() - system.proc.started_at - system.proc.ready_after)) * 1000
    final_ms = await system.watcher.until(lambda rows: [r["score"] for r in rows] == final_scores, timeout,
                                          "equal to the expected final top K")
    cpu_done = cpu_seconds(system.proc.pid)
    cpu = cpu_done - cpu_ready
    window_s = max(final_ms - ready_ms, 1.0) / 1000
    first = system.watcher.first_ms
    from_first_s = None if first is None else max(final_ms - first, 1.0) / 1000
    figures = {
        "startup_s": system.proc.ready_after, "cpu_s": cpu, "cpu_s_with_startup": cpu_done,
        "ready_to_final_s": window_s, "events_per_s": events / window_s,
        "first_board_to_final_s": from_first_s,
        "events_per_s_from_first_board": None if from_first_s is None else events / from_first_s,
        "events_per_cpu_s": events / cpu if cpu > 0 else None,
        "events_per_cpu_s_with_startup": events / cpu_done if cpu_done > 0 else None,
        "cpu_cores": cpu / window_s, "boards_received": system.watcher.boards,
    }
    print(f"    {system.label}: {figures['events_per_s']:,.0f} events/s, {cpu:.2f} CPU-s "
          f"({figures['events_per_cpu_s'] or 0:,.0f} events per CPU-second), startup {system.proc.ready_after:.1f}s",
          flush=True)
    return figures


def _value(user: str, action: str, event_id: str) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": action, "event_id": event_id,
                         "occurred_at": datetime.now(UTC)})


async def latency(ctx: Context, topic: str, systems: list[System], catalog: ActionCatalog, backlog_max: int,
                  users: int, rate: int, seconds: float) -> dict[str, Any]:
    """Side by side: seed ``users`` fresh users above the backlog, then time ``rate`` events/s on both systems."""
    seed_points, step = catalog.points(SEED_ACTION), catalog.points(STEP_ACTION)
    assert seed_points and step and seed_points > 0 and step > 0, "the example catalog's actions changed"
    seeds = backlog_max // seed_points + 2
    base = seeds * seed_points  # above every backlog user: each timed user is on both top-K boards
    tag = uuid.uuid4().hex[:6]
    names = [f"lat{tag}-{i}" for i in range(users)]
    mine = set(names)
    for system in systems:
        system.watcher.tracked = mine.__contains__
    producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for i in range(seeds):
            for user in names:
                await producer.send(topic, _value(user, SEED_ACTION, f"{user}-seed-{i}"), key=user.encode())
        await producer.flush()

        def seeded(rows: list[dict[str, Any]]) -> bool:
            return sum(1 for r in rows if r["user_id"] in mine and r["score"] >= base) == users

        for system in systems:
            await system.watcher.until(seeded, SEED_TIMEOUT_S, f"with all {users} seeded users")
        cpu_before = {s.label: cpu_seconds(s.proc.pid) for s in systems}
        sent: list[tuple[str, int, int]] = []  # (user, j, broker timestamp ms of its score-events record)
        total = int(rate * seconds)
        started = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))  # pacing, not a wait for a state
            user, j = names[i % users], i // users + 1
            future = await producer.send(topic, _value(user, STEP_ACTION, f"{user}-{j}"), key=user.encode())
            future.add_done_callback(lambda f, u=user, n=j: sent.append((u, n, f.result().timestamp)))
        await producer.flush()
        load_s = time.monotonic() - started
        finals = {u: base + step * (total // users + (1 if k < total % users else 0)) for k, u in enumerate(names)}

        def caught_up(rows: list[dict[str, Any]]) -> bool:
            return sum(1 for r in rows if finals.get(r["user_id"]) == r["score"]) == users

        delivered_all = {}
        for system in systems:
            try:
                await system.watcher.until(caught_up, TAIL_S, "with every timed event")
                delivered_all[system.label] = True
            except TimeoutError:
                delivered_all[system.label] = False
        cpu_after = {s.label: cpu_seconds(s.proc.pid) for s in systems}
    finally:
        await producer.stop()
    first_send = min((t for _, _, t in sent), default=0)
    timed = [(u, j, t) for u, j, t in sent if t >= first_send + WARMUP_S * 1000]
    out: dict[str, Any] = {"users": users, "rate": rate, "seconds": seconds, "load_s": load_s, "events": total,
                           "seed_events": seeds * users, "seed_score": base}
    for system in systems:
        history = system.watcher.history
        delays: list[float] = []
        for user, j, sent_ms in timed:
            need = base + step * j
            arrived = next((at for at, score in history.get(user, []) if score >= need), None)
            if arrived is not None:
                delays.append(max(arrived - sent_ms, 0.0) / 1000)
        figures = summary(delays, len(timed))
        cpu = cpu_after[system.label] - cpu_before[system.label]
        figures.update(cpu_s=cpu, cpu_cores=cpu / load_s, caught_up=delivered_all[system.label])
        out[system.label] = figures
        print(f"    {system.label}: produce -> board p50 {figures['p50_ms'] or float('inf'):.1f} ms, "
              f"p99 {figures['p99_ms'] or float('inf'):.1f} ms at {rate} events/s, "
              f"{figures['delivered']:.0%} delivered, {cpu / load_s:.2f} cores", flush=True)
    return out


async def run(ctx: Context) -> BenchResult:
    sizes = ctx.sizes
    n, users = sizes.kstreams_events, sizes.kstreams_users
    build = await asyncio.to_thread(kstreams_app.ensure_built)
    print(f"    Kafka Streams baseline: {build.how}"
          f"{'' if build.how == 'up to date' else f', built in {build.seconds:.1f}s'}", flush=True)
    catalog = ActionCatalog.load(CATALOG)
    prefix, names = await ctx.new_topics()
    ks_output = f"{prefix}kstreams-leaderboard"
    await ensure_topics(plaintext(ctx.bootstrap), [TopicSpec(ks_output, 1)])
    records, totals = make_events(n, users)
    fill_s = await prefill(ctx.bootstrap, names.score_events, records)
    final_scores = sorted(totals.values(), reverse=True)[:TOP_K]
    data: dict[str, Any] = {"events": n, "users": users, "partitions": 6, "prefill_s": fill_s, "top_k": TOP_K,
                            "emit_interval_ms": EMIT_MS, "kafka_streams": kstreams_app.KAFKA_STREAMS_VERSION,
                            "jvm_heap": kstreams_app.JVM_HEAP, "build": {"how": build.how, "s": build.seconds},
                            "throughput_order": "ours, then Kafka Streams (each alone)",
                            "latency": "side by side, same records"}
    async with AsyncExitStack() as stack:
        ours_watch = await BoardWatcher(ctx.bootstrap, names.leaderboard_updates).start()
        stack.push_async_callback(ours_watch.stop)
        theirs_watch = await BoardWatcher(ctx.bootstrap, ks_output).start()
        stack.push_async_callback(theirs_watch.stop)

        worker = await ctx.start_worker(stack, prefix)
        ours = System("ours", worker, ours_watch)
        data["ours"] = await throughput(ours, n, final_scores, THROUGHPUT_TIMEOUT_S)

        port = free_port()
        config = kstreams_app.write_config(
            ctx.run_dir / f"{prefix}kstreams.properties", bootstrap=ctx.bootstrap, app_id=f"{prefix}kstreams",
            source=names.score_events, output=ks_output, state_dir=ctx.run_dir / f"{prefix}kstreams-state",
            catalog=catalog, health_port=port, top_k=TOP_K, emit_ms=EMIT_MS)
        jvm = kstreams_app.supervisor(build, config, f"{prefix}kstreams", ctx.run_dir / f"{prefix}kstreams.log", port)
        stack.push_async_callback(jvm.stop_async, STOP_S)
        await jvm.start_async(180)
        theirs = System("kstreams", jvm, theirs_watch)
        data["kstreams"] = await throughput(theirs, n, final_scores, THROUGHPUT_TIMEOUT_S)

        data["latency"] = await latency(ctx, names.score_events, [ours, theirs], catalog, max(totals.values()),
                                        sizes.kstreams_latency_users, sizes.kstreams_rate, sizes.kstreams_seconds)
    o, k, lat = data["ours"], data["kstreams"], data["latency"]
    ratio = (o["events_per_cpu_s"] / k["events_per_cpu_s"]
             if o["events_per_cpu_s"] and k["events_per_cpu_s"] else None)
    data["ratio_events_per_cpu_s"] = ratio
    rate = sizes.kstreams_rate
    rows = [
        Row("6 vs Kafka Streams", "events per CPU-second of the processing process", o["events_per_cpu_s"],
            "ev/CPU-s", "Kafka Streams EOS v2", k["events_per_cpu_s"], "ratio ≥ 1.0",
            None if ratio is None else ratio >= 1.0),
        Row("6 vs Kafka Streams", "events/s, ready to exact final board", o["events_per_s"], "ev/s",
            "Kafka Streams EOS v2", k["events_per_s"]),
        Row("6 vs Kafka Streams", f"produce -> board p50 at {rate} ev/s (side by side)", lat["ours"]["p50_ms"], "ms",
            "Kafka Streams EOS v2", lat["kstreams"]["p50_ms"]),
        Row("6 vs Kafka Streams", f"produce -> board p99 at {rate} ev/s (side by side)", lat["ours"]["p99_ms"], "ms",
            "Kafka Streams EOS v2", lat["kstreams"]["p99_ms"]),
    ]
    return BenchResult("kstreams", "Against a Kafka Streams baseline", rows, data)
