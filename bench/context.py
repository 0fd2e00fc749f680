"""What every bench shares: the sizes (full or smoke), the broker, fresh topics, and our three services.

Each bench gets its own topic prefix (fresh, empty topics) on the one broker of the run, and its services get
the same settings the tests give them (``SCOREBOARD_ENV=dev``, the prefix, a private RocksDB directory).
"""

from __future__ import annotations

import sys
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import clean_env
from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tools.kafka_local import free_port
from tools.supervisor import Supervisor

API_KEY = "bench-key"
PARTITIONS = 6
STOP_S = 20.0  # SIGTERM, then SIGKILL after this long, when a bench ends


@dataclass(frozen=True)
class Sizes:
    worker_events: int
    worker_users: int
    ingest_start_rate: int       # first offered rate of the step search (events/s)
    ingest_max_rate: int
    ingest_step_s: float
    e2e_rate: int
    e2e_clients: int
    e2e_users: int               # ≤ 10 (the Redis design's top 10), so every user is always on the board
    e2e_seconds: float
    e2e_idle_rate: int           # events/s of bench 3's idle phase: what the pipeline costs, no coalescing
    e2e_idle_seconds: float      # its phase with 1 client
    e2e_idle_fanout_seconds: float  # its phase with e2e_clients: 150 events after the warm-up second, so that one
    # slow event among them is under 1 % of the deliveries (with 50, one was 2 % and the p99 was that event)
    fanout_counts: tuple[int, ...]
    fanout_seconds: float
    fanout_rows: int
    ryw_probes: int              # read-your-writes probes at idle (bench 6)
    standings_users: int         # users seeded on user-standings (bench 8; ``--users`` overrides)
    standings_flow_rate: int     # events/s flowing through the pipeline while bench 8 measures
    standings_start_rate: int    # first offered rate of bench 8's lookup step searches (req/s)
    standings_step_s: float
    personal_clients: int        # personal-stream clients (bench 8)
    personal_rate: int           # board changes/s for them
    personal_seconds: float
    kstreams_events: int         # backlog worked off by our worker, then by the Kafka Streams baseline (bench 10)
    kstreams_users: int
    kstreams_latency_users: int  # timed users (≤ the top K: each always on both boards)
    kstreams_rate: int           # events/s to each system (alone) while its latency is timed
    kstreams_seconds: float


# trimmed so that `make bench` runs every bench three times within 15 minutes (issue 18): shorter steps and phases,
# fewer events; bench 8 seeds 250,000 users (``--users 1000000`` for the full population)
FULL = Sizes(worker_events=50_000, worker_users=10_000, ingest_start_rate=1000, ingest_max_rate=20_000,
             ingest_step_s=1.0, e2e_rate=1000, e2e_clients=1000, e2e_users=10, e2e_seconds=5.0,
             e2e_idle_rate=10, e2e_idle_seconds=6.0, e2e_idle_fanout_seconds=16.0,
             fanout_counts=(1000, 5000, 10_000), fanout_seconds=2.5, fanout_rows=100, ryw_probes=25,
             standings_users=250_000, standings_flow_rate=1000, standings_start_rate=2000, standings_step_s=1.0,
             personal_clients=1000, personal_rate=10, personal_seconds=6.0,
             kstreams_events=30_000, kstreams_users=10_000, kstreams_latency_users=50, kstreams_rate=500,
             kstreams_seconds=4.0)
SMOKE = Sizes(worker_events=600, worker_users=60, ingest_start_rate=50, ingest_max_rate=100,
              ingest_step_s=1.0, e2e_rate=50, e2e_clients=5, e2e_users=5, e2e_seconds=2.0,
              e2e_idle_rate=5, e2e_idle_seconds=2.0, e2e_idle_fanout_seconds=2.0,
              fanout_counts=(10, 20), fanout_seconds=2.0, fanout_rows=10, ryw_probes=5,
              standings_users=300, standings_flow_rate=20, standings_start_rate=50, standings_step_s=1.0,
              personal_clients=10, personal_rate=5, personal_seconds=2.0,
              kstreams_events=600, kstreams_users=60, kstreams_latency_users=10, kstreams_rate=50,
              kstreams_seconds=2.0)


@dataclass
class Context:
    bootstrap: str
    sizes: Sizes
    run_dir: Path
    smoke: bool
    profile: bool = False
    users: int | None = None  # ``--users``: bench 8's population instead of ``sizes.standings_users``
    shared: dict[str, Any] = field(default_factory=dict)  # our figures, for bench 5's side-by-side rows
    found: dict[str, float] = field(default_factory=dict)  # each step search's best rate, for the next run's start

    def search_start(self, key: str, default: float) -> float:
        """Where a step search starts: ``default``, or just under the lowest figure its earlier runs found (a
        repeated search then passes once, fails once and bisects, instead of climbing from the bottom again; the
        lowest, so that one lucky run does not start the next above what the server sustains)."""
        last = self.found.get(key)
        return default if not last else max(1.0, round(last * 0.8))

    def record_found(self, key: str, rate: float) -> None:
        """A step search's figure, kept as the lowest passing one so far (a run where nothing passed keeps it)."""
        held = self.found.get(key)
        self.found[key] = rate if not held else (min(held, rate) if rate else held)

    def bisections(self, key: str) -> int:
        """Bisection steps of a step search: none in ``--smoke``; two the first time, one when the search starts
        from the previous run's figure (its gap is then 0.8-1.2 of it, and one step leaves ±10 %, about the spread
        between runs: it keeps `make bench`'s three passes in 15 minutes)."""
        return 0 if self.smoke else (1 if self.found.get(key) else 2)

    async def new_topics(self, partitions: int = PARTITIONS) -> tuple[str, TopicNames]:
        prefix = f"bench{uuid.uuid4().hex[:8]}-"
        names = TopicNames.with_prefix(prefix)
        await ensure_topics(plaintext(self.bootstrap), contract_topics(names, partitions))
        return prefix, names

    def env(self, prefix: str, **extra: str) -> dict[str, str]:
        settings = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "SCOREBOARD_ENV": "dev",
                    "SCOREBOARD_TOPIC_PREFIX": prefix, "SCOREBOARD_PARTITIONS": str(PARTITIONS),
                    "SCOREBOARD_LOG_LEVEL": "INFO"}
        return clean_env(**{**settings, **extra})

    async def start_worker(self, stack: AsyncExitStack, prefix: str, name: str = "worker",
                           **extra: str) -> Supervisor:
        port = free_port()
        env = self.env(prefix, SCOREBOARD_WORKER_ID=f"{prefix}worker",
                       SCOREBOARD_DATA_DIR=str(self.run_dir / f"{prefix}{name}-data"),
                       SCOREBOARD_WORKER_WEB_PORT=str(port), SCOREBOARD_WORKER_STANDBY_REPLICAS="0", **extra)
        service = Supervisor.module("stream_app", env=env, name=f"{prefix}{name}",
                                    log_path=self.run_dir / f"{prefix}{name}.log",
                                    ready_url=f"http://127.0.0.1:{port}/readyz")
        stack.push_async_callback(service.stop_async, STOP_S)
        return await service.start_async(180)

    async def start_http(self, stack: AsyncExitStack, name: str, args: list[str], env: dict[str, str],
                         port: int, ready_path: str = "/readyz") -> tuple[Supervisor, str]:
        """``python <args>``, ready when ``ready_path`` on ``port`` answers 200."""
        url = f"http://127.0.0.1:{port}"
        service = Supervisor([sys.executable, *args], env=env, name=name, log_path=self.run_dir / f"{name}.log",
                             ready_url=url + ready_path)
        stack.push_async_callback(service.stop_async, STOP_S)
        await service.start_async(120)
        return service, url

    async def start_api(self, stack: AsyncExitStack, prefix: str) -> tuple[Supervisor, str]:
        port = free_port()
        env = self.env(prefix, SCOREBOARD_API_KEYS=API_KEY, SCOREBOARD_API_PORT=str(port),
                       SCOREBOARD_LOG_LEVEL="WARNING", SCOREBOARD_RATE_LIMIT="")  # one key drives the whole load
        return await self.start_http(stack, f"{prefix}api", ["-m", "producer_api"], env, port)

    async def start_sse(self, stack: AsyncExitStack, prefix: str, name: str = "sse") -> tuple[Supervisor, str]:
        port = free_port()
        # every bench client connects from 127.0.0.1: one address may hold all of them (the cap per address is 50)
        most = str(max(*self.sizes.fanout_counts, self.sizes.e2e_clients) + 1000)
        env = self.env(prefix, SCOREBOARD_SSE_PORT=str(port), SCOREBOARD_LOG_LEVEL="WARNING",
                       SCOREBOARD_SSE_MAX_STREAMS=most, SCOREBOARD_SSE_MAX_STREAMS_PER_CLIENT=most)
        return await self.start_http(stack, f"{prefix}{name}", ["-m", "sse_server"], env, port)
