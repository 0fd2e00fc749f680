"""Bench 8, standings at scale (issue 12): one read replica holding every user's exact rank on three boards.

One run, on fresh topics, our read replica and the Redis design side by side:
1. ``sse_server`` on the empty topics: its RSS with an empty rank index (then stopped).
2. ``users`` (default 250,000 so that ``make bench`` runs it three times in 15 minutes; ``--users 1000000`` for
   issue 12's population) records produced straight to ``user-standings`` (the public
   compacted topic the worker writes), each with a username and a score on ``alltime`` and the current
   ``daily:`` and ``weekly:`` boards; the same users go into Redis as three sorted sets (``ZADD``) and a hash
   of names (``HSET``), the Redis design's memory being ``used_memory`` after - before. Redis's start-up
   counterpart is a restart loading that data from its RDB file (``SAVE``, then a second ``redis-server``).
3. The real pipeline starts (worker) and ``standings_flow_rate`` events/s flow for the rest of the lookups:
   produced to ``score-events`` (``find_secret``, over 10,000 ``bg-`` users) and, for Redis, the same rate of
   ``ZINCRBY`` on its three sorted sets.
4. A fresh ``sse_server`` starts and rebuilds from ``user-standings``: start-up = process start -> ``/readyz``
   200; index memory = (its RSS after catch-up - the empty one's) / (users x 3 boards).
5. ``GET /leaderboard/users/{id}`` and ``GET /leaderboard/around/{id}?radius=5`` for random seeded users (a
   sample of 20,000 of them), each through the step search of bench 2 (highest rate with p99 < 50 ms, open
   loop, separate load generator), on ours and on the Redis app (``bench/baselines/redis_app.py``).
6. The flow stops; ``personal_clients`` plain board streams connect, then as many personal streams
   (``?user_id=pt-<i>``). Then ``personal_rate`` events/s (``daily_login``, 5 points)
   go to ``score-events`` for random tracked users (at most 3 each, so every tracked score stays under every
   other user's: their ranks follow from the tracked users alone). The bench works out each tracked user's
   (score, rank) after each event; delivery = the arrival of a ``standing`` event at that state or later -
   the produce of the event (``latency.standings``).
7. Memory per client, personal stream against board stream: each kind on a fresh ``sse_server`` (fresh topics,
   one 100-row board), as bench 4 measures it: (RSS with the clients connected - before) / clients. (On the
   replica of step 6 the heap has free room left by the rebuild and the flow, which new clients fill without
   growing the RSS: 0.02 KiB per plain client there, so the replica is not where this is compared.)
The load average (``uptime``) is noted at every figure: the machine may be shared.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, suppress
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from bench import profiling, stepsearch
from bench.baselines.redis_app import NAMES
from bench.baselines.redis_server import RedisServer
from bench.context import API_KEY, Context
from bench.fanout_bench import board as fanout_board
from bench.procs import cpu_seconds, rss_kb, run_tool
from bench.results import BenchResult, Row
from bench.swarm import Swarm
from schemas.leaderboard import WINDOWS
from schemas.periods import board_id, period_for
from tools.kafka_local import free_port

SEED_PREFIX, BG_PREFIX, TRACKED_PREFIX = "su-", "bg-", "pt-"
SEED_MIN = 1000          # every seeded score is at least this: above any bg- or tracked user
BG_ACTION = "find_secret"  # 100 points: every bg- user is above every tracked one
TRACKED_ACTION, TRACKED_POINTS, TRACKED_MAX_EVENTS = "daily_login", 5, 3
BG_USERS = 10_000
LOOKUP_SAMPLE = 20_000
RADIUS = 5
MAX_RATE = 20_000
DELIVERY_BOUND_MS = 1000.0
STARTUP_S_PER_MILLION = 60.0  # the start-up target scales with the population (a rebuild reads every record)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def current_boards(now: datetime) -> list[str]:
    return [board_id(w, period_for(w, now)) for w in WINDOWS]


def population(users: int, boards: list[str], now_ms: int) -> Iterator[tuple[str, str, list[tuple[str, int, int]]]]:
    """The seeded users, the same every time it is called: (user_id, username, [(board, score, since)])."""
    rng = random.Random(8)
    for i in range(users):
        alltime = rng.randrange(SEED_MIN, 10_000_000)
        weekly = rng.randrange(SEED_MIN, alltime + 1)
        daily = rng.randrange(SEED_MIN, weekly + 1)
        since = now_ms - rng.randrange(86_400_000)
        yield (f"{SEED_PREFIX}{i}", f"Player {i}",
               [(boards[0], alltime, since), (boards[1], daily, since), (boards[2], weekly, since)])


async def seed_standings(bootstrap: str, topic: str, users: int, boards: list[str], now_ms: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    started = time.monotonic()
    try:
        pending: list[asyncio.Future[Any]] = []
        for user_id, name, standing in population(users, boards, now_ms):
            value = orjson.dumps({"user_id": user_id, "username": name,
                                  "boards": {b: {"score": s, "since": t} for b, s, t in standing}})
            pending.append(await producer.send(topic, value, key=user_id.encode()))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.monotonic() - started
    return {"records": users, "seconds": seconds, "records_per_s": users / seconds if seconds else 0.0}


async def seed_redis(url: str, users: int, boards: list[str], now_ms: int) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url)
    try:
        before = int((await client.info("memory"))["used_memory"])
        started = time.monotonic()
        chunk: list[tuple[str, str, list[tuple[str, int, int]]]] = []

        async def flush() -> None:
            async with client.pipeline(transaction=False) as pipe:
                for i, board in enumerate(boards):
                    pipe.zadd(f"lb:{board}", {uid: standing[i][1] for uid, _, standing in chunk})
                pipe.hset(NAMES, mapping={uid: name for uid, name, _ in chunk})
                await pipe.execute()
            chunk.clear()

        for entry in population(users, boards, now_ms):
            chunk.append(entry)
            if len(chunk) >= 10_000:
                await flush()
        if chunk:
            await flush()
        seconds = time.monotonic() - started
        await client.memory_purge()
        after = int((await client.info("memory"))["used_memory"])
        version = (await client.info("server"))["redis_version"]
    finally:
        await client.aclose()
    return {"seconds": seconds, "used_memory_before": before, "used_memory_after": after,
            "bytes_per_user_board": (after - before) / (users * len(boards)), "redis_version": version}


async def redis_restart(ctx: Context, server: RedisServer) -> dict[str, Any]:
    """Save the data set, then time a second ``redis-server`` loading it (start -> ready to accept connections)."""
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.save()
    finally:
        await client.aclose()
    dump = ctx.run_dir / "dump.rdb"
    reload = RedisServer(ctx.run_dir, name="redis-server-reload")
    size = dump.stat().st_size
    try:
        await reload.start_async(120)
        loaded = [line for line in reload.output().splitlines() if "DB loaded from disk" in line]
    finally:
        await reload.stop_async(20)
        dump.unlink(missing_ok=True)
    return {"seconds": reload.ready_after, "rdb_bytes": size, "log": loaded[-1] if loaded else ""}


class Flow:
    """``rate`` events/s through the real pipeline (produced to ``score-events``) and as many ``ZINCRBY`` on the
    Redis design's three sorted sets, until stopped."""

    def __init__(self, bootstrap: str, topic: str, redis_url: str, boards: list[str], rate: int) -> None:
        self.bootstrap, self.topic, self.redis_url, self.boards, self.rate = bootstrap, topic, redis_url, boards, rate
        self.sent = 0
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.started = 0.0
        self.seconds = 0.0

    def start(self) -> Flow:
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=5)
        await producer.start()
        client = aioredis.Redis.from_url(self.redis_url)
        run = uuid.uuid4().hex[:6]
        self.started = time.monotonic()
        try:
            while not self.stopping.is_set():
                due = int((time.monotonic() - self.started) * self.rate)
                batch = range(self.sent, due)
                async with client.pipeline(transaction=False) as pipe:
                    for i in batch:
                        user = f"{BG_PREFIX}{i % BG_USERS}"
                        value = orjson.dumps({"user_id": user, "action_id": BG_ACTION, "event_id": f"{run}-{i}"})
                        await producer.send(self.topic, value, key=user.encode())
                        for board in self.boards:
                            pipe.zincrby(f"lb:{board}", 100, user)
                    if len(batch):
                        await pipe.execute()
                self.sent = due
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.01)
            await producer.flush()
        finally:
            self.seconds = time.monotonic() - self.started
            await producer.stop()
            await client.aclose()


async def lookup_search(ctx: Context, label: str, url: str, path: str, pids: list[int], users: int,
                        profile_pid: int | None = None) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    sizes = ctx.sizes

    async def step_at(rate: float) -> dict[str, Any]:
        conns = min(stepsearch.CONNS, max(8, int(rate / 5)))
        cfg = {"host": "127.0.0.1", "port": port, "path": path, "method": "GET", "rate": rate,
               "seconds": sizes.standings_step_s, "warmup_s": 0.5, "conns": conns,
               "users": users, "user_prefix": SEED_PREFIX, "sample": min(LOOKUP_SAMPLE, users), "seed": 8}
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        started = time.monotonic()
        out = await run_tool(["-m", "bench.loadgen", orjson.dumps(cfg).decode()],
                             timeout=sizes.standings_step_s + 60)
        step: dict[str, Any] = orjson.loads(out)
        elapsed = time.monotonic() - started
        step["server_cpu"] = {str(pid): round((cpu_seconds(pid) - cpu_before[pid]) / elapsed, 3)
                              for pid in pids if os.path.exists(f"/proc/{pid}")}
        step["load"] = load()
        return step

    print(f"  {label} ({path}), load {load()}:", flush=True)
    spy = await profiling.start(profile_pid, ctx.run_dir / f"{label.replace(' ', '-')}-profile.txt") \
        if profile_pid is not None else None
    start = ctx.search_start(label, sizes.standings_start_rate)
    found = await stepsearch.search(step_at, start, start * 1.2 if ctx.smoke else MAX_RATE, 200,
                                    bisections=ctx.bisections(label))
    ctx.record_found(label, found["best_rate"])
    if spy is not None:
        found["profile"] = await profiling.stop(spy)
    found["load"] = load()
    best = found["best_step"] or {}
    found["best_p99_ms"] = best.get("p99_ms")
    return found


async def wait_total(url: str, expected: int, timeout: float = 120.0) -> int:
    """Until ``total_players`` of the alltime board is ``expected`` (the flow's users are all in the index)."""
    deadline = time.monotonic() + timeout
    total = -1
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        while time.monotonic() < deadline:
            answer = await client.get(f"/leaderboard/users/{SEED_PREFIX}0")
            answer.raise_for_status()
            total = int(answer.json()["total_players"])
            if total == expected:
                return total
            await asyncio.sleep(0.2)
    raise TimeoutError(f"total_players {total}, expected {expected}")


def tracked_changes(events: list[tuple[int, float]], base: int) -> list[list[Any]]:
    """Every (client, score, rank, produced) change of the tracked users' standings, event after event: tracked
    users are below everyone else (``base`` players), ordered by score, then who reached it first."""
    state: dict[int, tuple[int, int]] = {}  # tracked user -> (score, index of the event that reached it)
    shown: dict[int, tuple[int, int]] = {}
    changes: list[list[Any]] = []
    for seq, (user, produced) in enumerate(events):
        score = state.get(user, (0, 0))[0] + TRACKED_POINTS
        state[user] = (score, seq)
        order = sorted(state, key=lambda u: (-state[u][0], state[u][1]))
        for position, u in enumerate(order):
            now = (state[u][0], base + position + 1)
            if shown.get(u) != now:
                shown[u] = now
                changes.append([u, now[0], now[1], produced])
    return changes


async def personal_phase(ctx: Context, url: str, pid: int, score_events: str, base: int) -> dict[str, Any]:
    sizes = ctx.sizes
    clients, port = sizes.personal_clients, int(url.rsplit(":", 1)[1])
    async with AsyncExitStack() as stack:
        rss_before = rss_kb(pid)
        plain = await Swarm("127.0.0.1", port, "/leaderboard/stream?window=alltime", clients).start()
        stack.push_async_callback(plain.kill)
        await asyncio.sleep(0.5)
        rss_plain = rss_kb(pid)
        personal = await Swarm("127.0.0.1", port, "/leaderboard/stream?window=alltime", clients,
                               user_prefix=TRACKED_PREFIX).start()
        stack.push_async_callback(personal.kill)
        await asyncio.sleep(0.5)
        rss_personal = rss_kb(pid)
        producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks=1, linger_ms=0)
        await producer.start()
        stack.push_async_callback(producer.stop)
        rng = random.Random(12)
        given: dict[int, int] = {}
        events: list[tuple[int, float]] = []
        run = uuid.uuid4().hex[:6]
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        for i in range(int(sizes.personal_rate * sizes.personal_seconds)):
            await asyncio.sleep(max(0.0, started + i / sizes.personal_rate - time.monotonic()))
            user = rng.randrange(clients)
            while given.get(user, 0) >= TRACKED_MAX_EVENTS:
                user = rng.randrange(clients)
            given[user] = given.get(user, 0) + 1
            uid = f"{TRACKED_PREFIX}{user}"
            produced = time.monotonic()
            await producer.send_and_wait(score_events, orjson.dumps(
                {"user_id": uid, "action_id": TRACKED_ACTION, "event_id": f"{run}-{i}"}), key=uid.encode())
            events.append((user, produced))
        await asyncio.sleep(DELIVERY_BOUND_MS / 1000 + 1.5)  # time for the last change to reach its clients
        cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
        changes = tracked_changes(events, base)
        figures = await personal.stop({"kind": "standing", "changes": changes},
                                      ctx.run_dir / "standings-personal.json")
    per_plain = (rss_plain - rss_before) / max(plain.connected, 1)
    per_personal = (rss_personal - rss_plain) / max(personal.connected, 1)
    figures.update(plain_connected=plain.connected, personal_connected=personal.connected,
                   in_replica_rss_before_kb=rss_before, in_replica_rss_plain_kb=rss_plain,
                   in_replica_rss_personal_kb=rss_personal, in_replica_plain_kib_per_client=per_plain,
                   in_replica_personal_kib_per_client=per_personal, events=len(events), server_cpu=cpu, load=load())
    print(f"  personal streams: {personal.connected}/{clients} (+{plain.connected} plain), {len(events)} events, "
          f"{figures['changes']} standing changes, p99 {figures['p99_ms'] or float('inf'):.0f} ms, delivered "
          f"{figures['delivered']:.3f}, unexpected {figures['unexpected']}; load {load()}", flush=True)
    return figures


async def client_rss(ctx: Context, personal: bool) -> dict[str, Any]:
    """KiB of RSS per SSE client on a fresh ``sse_server``: board streams, or personal streams (``user_id``)."""
    kind = "personal" if personal else "plain"
    async with AsyncExitStack() as stack:
        prefix, names = await ctx.new_topics()
        producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, acks=1)
        await producer.start()
        try:
            await producer.send_and_wait(names.leaderboard_updates, fanout_board(1, 100), key=b"alltime")
        finally:
            await producer.stop()
        sse, url = await ctx.start_sse(stack, prefix, name=f"sse-{kind}-clients")
        before = rss_kb(sse.pid)
        swarm = await Swarm("127.0.0.1", int(url.rsplit(":", 1)[1]), "/leaderboard/stream?window=alltime",
                            ctx.sizes.personal_clients, user_prefix=TRACKED_PREFIX if personal else "").start()
        stack.push_async_callback(swarm.kill)
        await asyncio.sleep(0.5)
        after = rss_kb(sse.pid)
    per_client = (after - before) / max(swarm.connected, 1)
    print(f"  {kind} streams on a fresh sse_server: {swarm.connected} clients, {per_client:.1f} KiB/client, "
          f"load {load()}", flush=True)
    return {"clients": swarm.connected, "rss_before_kb": before, "rss_connected_kb": after,
            "kib_per_client": per_client, "load": load()}


async def run(ctx: Context) -> BenchResult:
    sizes = ctx.sizes
    users = ctx.users or sizes.standings_users
    now = datetime.now(UTC)
    boards, now_ms = current_boards(now), int(now.timestamp() * 1000)
    data: dict[str, Any] = {"users": users, "boards": boards, "flow_rate": sizes.standings_flow_rate,
                            "personal_rate": sizes.personal_rate}
    async with AsyncExitStack() as stack:
        prefix, names = await ctx.new_topics()
        async with AsyncExitStack() as empty_stack:
            empty, empty_url = await ctx.start_sse(empty_stack, prefix, name="sse-empty")
            async with httpx.AsyncClient(base_url=empty_url) as client:  # the request path warmed up
                for _ in range(20):
                    await client.get(f"/leaderboard/users/{SEED_PREFIX}0")
            rss_empty = rss_kb(empty.pid)
        print(f"  empty index: RSS {rss_empty / 1024:.0f} MiB; seeding {users:,} users, load {load()}", flush=True)
        data["seed"] = await seed_standings(ctx.bootstrap, names.user_standings, users, boards, now_ms)
        print(f"  user-standings seeded in {data['seed']['seconds']:.1f}s", flush=True)

        server = RedisServer(ctx.run_dir)
        stack.push_async_callback(server.stop_async, 20)
        await server.start_async(30)
        port = free_port()
        redis_app, redis_url = await ctx.start_http(
            stack, "redis-app", ["-m", "bench.baselines.redis_app", str(port), str(server.port), API_KEY],
            ctx.env(""), port)
        redis_rss_before = rss_kb(server.pid)
        data["redis_seed"] = await seed_redis(server.url, users, boards, now_ms)
        data["redis_seed"]["rss_delta_kb"] = rss_kb(server.pid) - redis_rss_before
        data["redis_restart"] = await redis_restart(ctx, server)
        print(f"  Redis: {data['redis_seed']['bytes_per_user_board']:.0f} B/user/board, RDB reload "
              f"{data['redis_restart']['seconds']:.1f}s", flush=True)

        await ctx.start_worker(stack, prefix)
        flow = Flow(ctx.bootstrap, names.score_events, server.url, boards, sizes.standings_flow_rate).start()
        stack.push_async_callback(flow.stop)
        sse, url = await ctx.start_sse(stack, prefix, name="sse")
        startup_load = load()
        rss_ready = rss_kb(sse.pid)
        await asyncio.sleep(2.0)
        rss_full = rss_kb(sse.pid)
        per_user_board = (rss_full - rss_empty) * 1024 / (users * len(boards))
        data["ours"] = {"startup_s": sse.ready_after, "startup_load": startup_load, "rss_empty_kb": rss_empty,
                        "rss_ready_kb": rss_ready, "rss_after_catch_up_kb": rss_full,
                        "bytes_per_user_board": per_user_board}
        print(f"  ours: ready after {sse.ready_after:.1f}s (load {startup_load}), RSS {rss_full / 1024:.0f} MiB = "
              f"{per_user_board:.0f} B/user/board", flush=True)

        profile = sse.pid if ctx.profile else None
        user_path, around_path = "/leaderboard/users/{user}", f"/leaderboard/around/{{user}}?radius={RADIUS}"
        data["users_ours"] = await lookup_search(ctx, "ours users", url, user_path, [sse.pid], users, profile)
        data["users_redis"] = await lookup_search(ctx, "Redis users", redis_url, user_path,
                                                  [redis_app.pid, server.pid], users)
        data["around_ours"] = await lookup_search(ctx, "ours around", url, around_path, [sse.pid], users, profile)
        data["around_redis"] = await lookup_search(ctx, "Redis around", redis_url, around_path,
                                                   [redis_app.pid, server.pid], users)
        await flow.stop()
        data["flow"] = {"sent": flow.sent, "seconds": flow.seconds,
                        "rate": flow.sent / flow.seconds if flow.seconds else 0.0}
        base = await wait_total(url, users + min(flow.sent, BG_USERS))
        data["personal"] = await personal_phase(ctx, url, sse.pid, names.score_events, base)
    data["client_rss_plain"] = await client_rss(ctx, personal=False)
    data["client_rss_personal"] = await client_rss(ctx, personal=True)
    return result(data)


def result(data: dict[str, Any]) -> BenchResult:
    users, ours, personal = data["users"], data["ours"], data["personal"]
    flow = f"{data['flow_rate']:,} ev/s flowing"
    where = f"{users:,} users x 3 boards, {flow}"

    def rate_row(name: str, target: int) -> Row:
        mine, theirs = data[f"{name}_ours"], data[f"{name}_redis"]
        path = "users/{id}" if name == "users" else f"around/{{id}}?radius={RADIUS}"
        return Row("8 standings", f"GET /leaderboard/{path} at p99 < 50 ms, {where} (load {mine['load']})",
                   mine["best_rate"], "req/s", "Redis design", theirs["best_rate"], f"≥ {target:,}",
                   mine["best_rate"] >= target)

    startup_bound = STARTUP_S_PER_MILLION * users / 1_000_000  # issue 12: 60 s for 1,000,000 users
    per_plain = data["client_rss_plain"]["kib_per_client"] * 1.024  # KiB -> KB, as bench 4
    per_personal = data["client_rss_personal"]["kib_per_client"] * 1.024
    rows = [
        Row("8 standings", f"index RSS per user per board, {where}", ours["bytes_per_user_board"], "B",
            "Redis used_memory", data["redis_seed"]["bytes_per_user_board"], "≤ 200",
            ours["bytes_per_user_board"] <= 200),
        Row("8 standings", f"start-up to /readyz from user-standings, {where} (load {ours['startup_load']})",
            ours["startup_s"], "s", "Redis RDB reload", data["redis_restart"]["seconds"],
            f"≤ {startup_bound:.0f} (60 per 1,000,000 users)", ours["startup_s"] <= startup_bound),
        rate_row("users", 3000),
        rate_row("around", 2000),
        Row("8 standings", f"personal stream p99 delivery, {personal['personal_connected']:,} clients, "
            f"{personal['events']} events at {data['personal_rate']}/s, {personal['changes']:,} standing changes "
            f"(load {personal['load']})",
            personal["p99_ms"], "ms", "", None, "≤ 1,000",
            personal["p99_ms"] is not None and personal["p99_ms"] <= DELIVERY_BOUND_MS),
        Row("8 standings", f"RSS per personal-stream client, {data['client_rss_personal']['clients']:,} clients on "
            f"a fresh sse_server (load {data['client_rss_personal']['load']})", per_personal, "KB",
            "board-stream client", per_plain, "≤ board stream's", per_personal <= per_plain),
    ]
    return BenchResult("standings", "Standings at scale: rank index, lookups, personal streams", rows, data)
