"""Bench 10, a Kafka Streams baseline (issue 18's "bench 6": 6 to 9 were taken): our worker and a Kafka Streams
app (EOS v2) on the same events, in one run.

Why: a team choosing a Kafka-native leaderboard compares us with Kafka Streams, and on a shared 2-core box
events/s alone says as much about the neighbours as about the code; **events per CPU-second of the processing
process** (utime + stime of every thread, from ``/proc/<pid>/stat``: the worker's Python process, the app's JVM
with its GC and JIT threads) is the fair figure, and the ratio ours / theirs of it is the headline (goal ≥ 1.0).
The baseline is ``bench/baselines/kstreams`` (see ``bench.baselines.kstreams_app``); it does the worker's job —
per-user all-time, UTC-day and ISO-week totals, event-id dedup, an exact two-stage top-K per board — and writes
each board, as JSON in our ``leaderboard-updates`` shape, to an output topic of its own.

One run, on one ``score-events`` topic (6 partitions), each system in its own consumer group and **each alone**
(one after the other: side by side on two cores and one broker, each one's figures would measure the other too):

1. N events over U users are produced (``bench.worker_bench.make_events``, as bench 1: event id, ``occurred_at``).
2. Our worker starts (as in bench 1) and then the Kafka Streams app (application.id of its own), each on the whole
   topic from its start. For each, **throughput**: CPU-seconds from ready (``/readyz`` 200: ours once partitions
   are assigned and tables recovered, theirs once ``KafkaStreams`` is RUNNING; both polled every 0.1 s) to the
   moment a ``read_committed`` reader receives the all-time board equal to the expected top K (computed here from
   everything produced); events/s over that window; and both again over the steady part, 20 % to 90 % of the
   backlog worked off (``Sampler``: without the JIT's warm-up or our first batches). Then **latency**: L fresh
   users are seeded above every other user (so all of them are on the top-K board), then ``rate`` events/s for
   ``seconds`` go round robin over them, +10 points each. Event j of user u is *in* a board once the board shows
   u with at least seed + 10·j points; its latency runs from its ``score-events`` broker timestamp
   (``LogAppendTime``) to the wall-clock moment the ``read_committed`` reader received the first such board (for
   Kafka Streams: only once its transaction commits, which is when anyone can read it). One clock, one machine;
   the first second is warm-up. Our worker is then stopped, so the app's backlog is N plus our latency phase's
   events, and its expected board includes our timed users.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

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
SAMPLE_S = 0.2  # how often the steady-state sampler looks
STEADY = (0.2, 0.9)  # the part of the backlog whose rate and CPU are the steady-state figures
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
        self._conditions.remove((condition, future))
        if self._task in done:
            self._task.result()  # the reader failed: raise its error
        raise TimeoutError(f"{self.topic}: no board {what} within {timeout:.0f}s "
                           f"(last top 5: {self.last_scores[:5]}, {self.boards} boards)")


@dataclass
class System:
    label: str
    proc: Supervisor
    watcher: BoardWatcher
    progress: Callable[[], Awaitable[int]]  # events worked off so far (see ``Sampler``)


class Sampler:
    """Every ``SAMPLE_S``: (wall clock, CPU-seconds of the process, events worked off), to find the steady part of a
    run — without the JVM's JIT warm-up or Python's first batches — in ``steady``.

    Events worked off: ours, the ``score-applied`` answers received (one per event, sent as it is applied);
    Kafka Streams, the offsets its group committed on ``score-events`` (every 100 ms under EOS v2)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.samples: list[tuple[float, float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            done = await self.system.progress()
            self.samples.append((time.time(), cpu_seconds(self.system.proc.pid), done))
            await asyncio.sleep(SAMPLE_S)  # a sampling period, not a wait for a state

    def steady(self, events: int, low: float = STEADY[0], high: float = STEADY[1]) -> dict[str, Any]:
        """Events/s and events per CPU-second between ``low`` and ``high`` of ``events`` worked off."""
        first = next((s for s in self.samples if s[2] >= low * events), None)
        last = next((s for s in self.samples if s[2] >= high * events), None)
        if first is None or last is None or last[1] <= first[1] or last[0] <= first[0]:
            return {"events_per_s": None, "events_per_cpu_s": None, "samples": len(self.samples)}
        worked = last[2] - first[2]
        return {"from": low, "to": high, "events": worked, "s": last[0] - first[0], "cpu_s": last[1] - first[1],
                "events_per_s": worked / (last[0] - first[0]), "events_per_cpu_s": worked / (last[1] - first[1]),
                "samples": len(self.samples)}


class AppliedCounter:
    """Counts our worker's ``score-applied`` answers (every partition, no group) as they arrive."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AppliedCounter:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=50)
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

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
                self.count += sum(len(records) for records in batch.values())
        finally:
            await consumer.stop()

    async def progress(self) -> int:
        return self.count

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def committed_counter(admin: AIOKafkaAdminClient, group: str) -> Callable[[], Awaitable[int]]:
    """The offsets ``group`` has committed, summed over its partitions (0 before its first commit)."""

    async def progress() -> int:
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        except KafkaError:
            return 0
        return sum(max(o.offset, 0) for o in offsets.values())

    return progress


async def throughput(system: System, events: int, final_scores: list[int], timeout: float) -> dict[str, Any]:
    """From the system's ready to its final all-time board: CPU, events/s (see the module docstring); and the same
    over the steady part of the run (``Sampler``)."""
    sampler = Sampler(system).start()
    try:
        figures = await _throughput(system, events, final_scores, timeout)
        deadline = time.monotonic() + 10.0  # the last answers or the last commit, a moment after the final board
        while (not sampler.samples or sampler.samples[-1][2] < events) and time.monotonic() < deadline:
            await asyncio.sleep(SAMPLE_S)
    finally:
        await sampler.stop()
    figures["steady"] = sampler.steady(events)
    steady = figures["steady"]
    if steady["events_per_cpu_s"] is not None:
        print(f"    {system.label}: steady ({STEADY[0]:.0%} to {STEADY[1]:.0%} worked off): "
              f"{steady['events_per_s']:,.0f} events/s, {steady['events_per_cpu_s']:,.0f} events per CPU-second",
              flush=True)
    return figures


async def _throughput(system: System, events: int, final_scores: list[int], timeout: float) -> dict[str, Any]:
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
        "events": events, "startup_s": system.proc.ready_after, "cpu_s": cpu, "cpu_s_with_startup": cpu_done,
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


def top(totals: dict[str, int]) -> list[int]:
    return sorted(totals.values(), reverse=True)[:TOP_K]


def _value(user: str, action: str, event_id: str) -> bytes:
    return orjson.dumps({"user_id": user, "action_id": action, "event_id": event_id,
                         "occurred_at": datetime.now(UTC)})


async def latency(ctx: Context, topic: str, system: System, catalog: ActionCatalog, above: int, users: int,
                  rate: int, seconds: float) -> tuple[dict[str, Any], dict[str, int]]:
    """Seed ``users`` fresh users above ``above`` points, then time ``rate`` events/s (see the module docstring).

    Returns the figures and the timed users' final totals (the other system's expected board includes them)."""
    seed_points, step = catalog.points(SEED_ACTION), catalog.points(STEP_ACTION)
    assert seed_points and step and seed_points > 0 and step > 0, "the example catalog's actions changed"
    seeds = max(above, 0) // seed_points + 2
    base = seeds * seed_points  # above every other user: each timed user is on the top-K board
    tag = uuid.uuid4().hex[:6]
    names = [f"lat{tag}-{i}" for i in range(users)]
    mine = set(names)
    system.watcher.tracked = mine.__contains__
    total = int(rate * seconds)
    finals = {u: base + step * (total // users + (1 if k < total % users else 0)) for k, u in enumerate(names)}
    producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for i in range(seeds):
            for user in names:
                await producer.send(topic, _value(user, SEED_ACTION, f"{user}-seed-{i}"), key=user.encode())
        await producer.flush()
        await system.watcher.until(
            lambda rows: sum(1 for r in rows if r["user_id"] in mine and r["score"] >= base) == users,
            SEED_TIMEOUT_S, f"with all {users} seeded users")
        cpu_before = cpu_seconds(system.proc.pid)
        sent: list[tuple[str, int, int]] = []  # (user, j, broker timestamp ms of its score-events record)
        started = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))  # pacing, not a wait for a state
            user, j = names[i % users], i // users + 1
            future = await producer.send(topic, _value(user, STEP_ACTION, f"{user}-{j}"), key=user.encode())
            future.add_done_callback(lambda f, u=user, n=j: sent.append((u, n, f.result().timestamp)))
        await producer.flush()
        load_s = time.monotonic() - started
        try:
            await system.watcher.until(
                lambda rows: sum(1 for r in rows if finals.get(r["user_id"]) == r["score"]) == users,
                TAIL_S, "with every timed event")
            caught_up = True
        except TimeoutError:
            caught_up = False
        cpu = cpu_seconds(system.proc.pid) - cpu_before
    finally:
        await producer.stop()
    first_send = min((t for _, _, t in sent), default=0)
    timed = [(u, j, t) for u, j, t in sent if t >= first_send + WARMUP_S * 1000]
    history = system.watcher.history
    delays: list[float] = []
    for user, j, sent_ms in timed:
        need = base + step * j
        arrived = next((at for at, score in history.get(user, []) if score >= need), None)
        if arrived is not None:
            delays.append(max(arrived - sent_ms, 0.0) / 1000)
    figures = summary(delays, len(timed))
    figures.update(users=users, rate=rate, seconds=seconds, load_s=load_s, events=total, seed_events=seeds * users,
                   seed_score=base, cpu_s=cpu, cpu_cores=cpu / load_s, caught_up=caught_up)
    print(f"    {system.label}: produce -> board p50 {figures['p50_ms'] or float('inf'):.1f} ms, "
          f"p99 {figures['p99_ms'] or float('inf'):.1f} ms at {rate} events/s, "
          f"{figures['delivered']:.0%} delivered, {cpu / load_s:.2f} cores", flush=True)
    return figures, finals


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
    data: dict[str, Any] = {"events": n, "users": users, "partitions": 6, "prefill_s": fill_s, "top_k": TOP_K,
                            "emit_interval_ms": EMIT_MS, "kafka_streams": kstreams_app.KAFKA_STREAMS_VERSION,
                            "jvm_heap": kstreams_app.JVM_HEAP, "build": {"how": build.how, "s": build.seconds},
                            "order": "ours (throughput, latency, stopped), then Kafka Streams: each alone"}
    known = dict(totals)  # every user's total so far: each system's expected final board is the top K of it
    lat_users, rate, seconds = sizes.kstreams_latency_users, sizes.kstreams_rate, sizes.kstreams_seconds
    async with AsyncExitStack() as stack:
        watch = await BoardWatcher(ctx.bootstrap, names.leaderboard_updates).start()
        stack.push_async_callback(watch.stop)
        applied = await AppliedCounter(ctx.bootstrap, names.applied).start()
        stack.push_async_callback(applied.stop)
        worker = await ctx.start_worker(stack, prefix)
        ours = System("ours", worker, watch, applied.progress)
        data["ours"] = await throughput(ours, n, top(known), THROUGHPUT_TIMEOUT_S)
        data["ours"]["latency"], finals = await latency(ctx, names.score_events, ours, catalog, max(known.values()),
                                                        lat_users, rate, seconds)
        known.update(finals)
    # the baseline works off the same topic: the backlog and what our latency phase added to it
    backlog = n + data["ours"]["latency"]["events"] + data["ours"]["latency"]["seed_events"]
    async with AsyncExitStack() as stack:
        watch = await BoardWatcher(ctx.bootstrap, ks_output).start()
        stack.push_async_callback(watch.stop)
        port = free_port()
        config = kstreams_app.write_config(
            ctx.run_dir / f"{prefix}kstreams.properties", bootstrap=ctx.bootstrap, app_id=f"{prefix}kstreams",
            source=names.score_events, output=ks_output, state_dir=ctx.run_dir / f"{prefix}kstreams-state",
            catalog=catalog, health_port=port, top_k=TOP_K, emit_ms=EMIT_MS)
        jvm = kstreams_app.supervisor(build, config, f"{prefix}kstreams", ctx.run_dir / f"{prefix}kstreams.log", port)
        stack.push_async_callback(jvm.stop_async, STOP_S)
        await jvm.start_async(180)
        admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap)
        await admin.start()
        stack.push_async_callback(admin.close)
        theirs = System("kstreams", jvm, watch, committed_counter(admin, f"{prefix}kstreams"))
        data["kstreams"] = await throughput(theirs, backlog, top(known), THROUGHPUT_TIMEOUT_S)
        data["kstreams"]["latency"], _ = await latency(ctx, names.score_events, theirs, catalog,
                                                       max(known.values()), lat_users, rate, seconds)
    o, k = data["ours"], data["kstreams"]
    ratio = (o["events_per_cpu_s"] / k["events_per_cpu_s"]
             if o["events_per_cpu_s"] and k["events_per_cpu_s"] else None)
    data["ratio_events_per_cpu_s"] = ratio
    rows = [
        Row("10 vs Kafka Streams", "events per CPU-second of the processing process", o["events_per_cpu_s"],
            "ev/CPU-s", "Kafka Streams EOS v2", k["events_per_cpu_s"], "ratio ≥ 1.0",
            None if ratio is None else ratio >= 1.0),
        Row("10 vs Kafka Streams", f"events per CPU-second, steady ({STEADY[0]:.0%}-{STEADY[1]:.0%} of the backlog)",
            o["steady"]["events_per_cpu_s"], "ev/CPU-s", "Kafka Streams EOS v2", k["steady"]["events_per_cpu_s"]),
        Row("10 vs Kafka Streams", "events/s, ready to exact final board", o["events_per_s"], "ev/s",
            "Kafka Streams EOS v2", k["events_per_s"]),
        Row("10 vs Kafka Streams", f"events/s, steady ({STEADY[0]:.0%}-{STEADY[1]:.0%} of the backlog)",
            o["steady"]["events_per_s"], "ev/s", "Kafka Streams EOS v2", k["steady"]["events_per_s"]),
        Row("10 vs Kafka Streams", f"produce -> board p50 at {rate} ev/s", o["latency"]["p50_ms"], "ms",
            "Kafka Streams EOS v2", k["latency"]["p50_ms"]),
        Row("10 vs Kafka Streams", f"produce -> board p99 at {rate} ev/s", o["latency"]["p99_ms"], "ms",
            "Kafka Streams EOS v2", k["latency"]["p99_ms"]),
        Row("10 vs Kafka Streams", f"CPU of the processing process at {rate} ev/s", o["latency"]["cpu_cores"],
            "cores", "Kafka Streams EOS v2", k["latency"]["cpu_cores"]),
    ]
    return BenchResult("kstreams", "Against a Kafka Streams baseline", rows, data)
