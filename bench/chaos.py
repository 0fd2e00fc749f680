"""The chaos run (``make chaos``): the whole stack under load while its processes are killed, then every total checked.

Why: "exactly once, survives crashes" is the product's claim, and the tests that prove pieces of it each disturb one
process in one way. Here a private broker, the worker, the write API and the read API run together under a steady
load of ``POST /scores`` while, at random moments (a seeded RNG; the seed is printed and ``--seed`` replays the
plan), one fault at a time hits them: ``kill -9`` of the worker, of the write API or of the read API (a watchdog
restarts any process that exits, as Kubernetes would: nobody tells it what happened), and a broker bounce with
SIGTERM or with SIGKILL (the same data dir and ports). After each fault it measures the seconds until the stack
serves again without a hand: every ``/readyz`` answers 200 and a new write is applied (200). When the faults stop,
the load drains (every request retried with its ``Idempotency-Key`` until decided: :mod:`bench.chaos_load`), and
the oracle of every accepted request is compared with what the stack holds. It prints the figures (events, faults,
recovery seconds, lost, doubled) and exits 1 on any lost or doubled event, a wrong total, a request never decided
or a service that did not recover within ``--recovery-bound``.

``python -m bench.chaos --seconds 180 [--seed N] [--run-dir DIR]``; ``--seconds 0`` injects each fault once.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.chaos_load import Client, Load, Oracle, read_applied, verify, wait_board, wait_settled
from bench.procs import clean_env
from schemas.runtime.kafka import plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.topics import TopicNames, contract_topics
from tools.kafka_local import LocalKafka, free_port
from tools.supervisor import Supervisor

FAULTS = ("worker kill -9", "api kill -9", "sse kill -9", "broker SIGTERM bounce", "broker SIGKILL bounce")
API_KEY = "chaos-key"
PREFIX = "chaos-"


@dataclass
class Config:
    seconds: float = 180.0       # faults are injected until this much time has passed (each kind at least once)
    seed: int | None = None
    users: int = 40
    clients: int = 6
    rate: float = 80.0           # new requests per second, all clients together
    partitions: int = 3
    gap_s: tuple[float, float] = (2.0, 8.0)    # random pause between a recovery and the next fault
    recovery_bound_s: float = 180.0
    settle_s: float = 120.0
    run_dir: Path | None = None


@dataclass
class Report:
    seed: int
    config: dict[str, Any]
    load: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    restarts: dict[str, dict[str, int]] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    settled_s: float | None = None
    board_exact: bool = False
    undecided: int = 0
    run_dir: str = ""

    @property
    def unrecovered(self) -> int:
        return sum(1 for f in self.faults if f["recovery_s"] is None)

    @property
    def passed(self) -> bool:
        c = self.check
        return (bool(c) and c["lost"] == 0 and c["doubled"] == 0 and c["unexpected"] == 0 and c["users_wrong"] == 0
                and self.board_exact and self.undecided == 0 and self.unrecovered == 0
                and {f["kind"] for f in self.faults} >= set(FAULTS))


class Stack:
    """The broker and the three services on fixed ports; a watchdog restarts any service that exits."""

    def __init__(self, run_dir: Path, partitions: int) -> None:
        self.run_dir = run_dir
        self.partitions = partitions
        self.broker = LocalKafka(run_dir / "kafka", heap="512M")
        self.names = TopicNames.with_prefix(PREFIX)
        self.ports = {"worker": free_port(), "api": free_port(), "sse": free_port()}
        self.api_url = f"http://127.0.0.1:{self.ports['api']}"
        self.sse_url = f"http://127.0.0.1:{self.ports['sse']}"
        self.ready_urls = {"worker": f"http://127.0.0.1:{self.ports['worker']}/readyz",
                           "api": f"{self.api_url}/readyz", "sse": f"{self.sse_url}/readyz"}
        self.services: dict[str, Supervisor] = {}
        self.killing: set[str] = set()  # services the chaos killed: their exit is not a crash
        self.restarts: dict[str, Counter[str]] = {name: Counter() for name in self.ports}
        self.watchers: list[asyncio.Task[None]] = []

    def _env(self, name: str) -> dict[str, str]:
        common = {"KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap, "SCOREBOARD_ENV": "dev",
                  "SCOREBOARD_TOPIC_PREFIX": PREFIX, "SCOREBOARD_PARTITIONS": str(self.partitions),
                  "SCOREBOARD_LOG_LEVEL": "INFO", "SCOREBOARD_KAFKA_CONNECT_TIMEOUT": "180"}
        own = {
            "worker": {"SCOREBOARD_WORKER_ID": f"{PREFIX}worker", "SCOREBOARD_DATA_DIR": str(self.run_dir / "worker"),
                       "SCOREBOARD_WORKER_WEB_PORT": str(self.ports["worker"]),
                       "SCOREBOARD_WORKER_SESSION_TIMEOUT_S": "6", "SCOREBOARD_WORKER_STANDBY_REPLICAS": "0"},
            "api": {"SCOREBOARD_API_KEYS": API_KEY, "SCOREBOARD_API_PORT": str(self.ports["api"]),
                    "SCOREBOARD_RATE_LIMIT": "", "SCOREBOARD_PRODUCE_TIMEOUT_MS": "5000"},
            "sse": {"SCOREBOARD_SSE_PORT": str(self.ports["sse"])},
        }[name]
        return clean_env(**common, **own)

    async def start(self) -> None:
        await asyncio.to_thread(self.broker.start)
        await ensure_topics(plaintext(self.broker.bootstrap), contract_topics(self.names, self.partitions))
        modules = {"worker": "stream_app", "api": "producer_api", "sse": "sse_server"}
        for name, module in modules.items():
            self.services[name] = Supervisor.module(module, env=self._env(name), name=name,
                                                    log_path=self.run_dir / f"{name}.log",
                                                    ready_url=self.ready_urls[name])
        await asyncio.gather(*(self._start(name) for name in modules))
        self.watchers = [asyncio.create_task(self._watch(name)) for name in modules]

    async def _start(self, name: str) -> None:
        await self.services[name].start_async(180)

    async def _watch(self, name: str) -> None:
        """Restart ``name`` whenever it is found exited (a kill or a crash), until it starts; count why."""
        service = self.services[name]
        while True:
            await asyncio.sleep(0.2)
            code = service.returncode
            if code is None:  # running (or not started yet)
                continue
            cause = "killed" if name in self.killing else f"exited {code}"
            self.killing.discard(name)
            self.restarts[name][cause] += 1
            while True:
                try:
                    await self._start(name)
                    break
                except (RuntimeError, TimeoutError):  # exited again before ready (a crash loop) or too slow
                    self.restarts[name]["failed start"] += 1
                    await asyncio.sleep(1.0)  # a restart back-off, as an orchestrator's

    def kill(self, name: str) -> None:
        self.killing.add(name)
        self.services[name].kill()

    async def bounce_broker(self, sigkill: bool, down_s: float) -> None:
        await asyncio.to_thread(self.broker.kill if sigkill else self.broker.stop)
        await asyncio.sleep(down_s)  # the broker stays away this long (part of the random plan)
        await asyncio.to_thread(self.broker.start, 120.0)

    async def ready(self, http: httpx.AsyncClient) -> set[str]:
        """The services whose ``/readyz`` answers 200 now."""
        up = set()
        for name, url in self.ready_urls.items():
            try:
                if (await http.get(url)).status_code == 200:
                    up.add(name)
            except httpx.HTTPError:
                pass
        return up

    async def stop(self) -> None:
        for task in self.watchers:
            task.cancel()
        await asyncio.gather(*self.watchers, return_exceptions=True)
        await asyncio.gather(*(s.stop_async(20) for s in self.services.values()))
        await asyncio.to_thread(self.broker.stop)


async def wait_recovered(stack: Stack, probe: Client, oracle: Oracle, started: float, bound_s: float,
                         fault: dict[str, Any]) -> None:
    """Until every service is ready and a new write is applied (200): ``fault["recovery_s"]`` the seconds from
    ``started`` (None past the bound), ``fault["ready_s"]`` when each service was first seen ready."""
    deadline = started + bound_s
    first_ready: dict[str, float] = {}
    fault["recovery_s"] = None
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            up = await stack.ready(http)
            for name in up:
                first_ready.setdefault(name, round(time.monotonic() - started, 1))
            fault["ready_s"] = first_ready
            if up == set(stack.ready_urls):
                req = oracle.new("probe")
                if await probe.settle(req, respond_async=False, give_up_at=lambda: deadline) and req.status == 200:
                    fault["recovery_s"] = round(time.monotonic() - started, 1)
                    return
            else:
                await asyncio.sleep(0.25)


def plan(rng: random.Random) -> list[str]:
    kinds = list(FAULTS)
    rng.shuffle(kinds)
    return kinds


async def inject(stack: Stack, kind: str, rng: random.Random, fault: dict[str, Any]) -> None:
    if kind.startswith("broker"):
        started = time.monotonic()
        await stack.bounce_broker(sigkill="SIGKILL" in kind, down_s=rng.uniform(0.0, 3.0))
        fault["broker_back_s"] = round(time.monotonic() - started, 1)
    else:
        stack.kill(kind.split()[0])


async def run(cfg: Config) -> Report:
    seed = cfg.seed if cfg.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    rng = random.Random(seed)
    run_dir = cfg.run_dir or Path(tempfile.mkdtemp(prefix="scoreboard-chaos-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    report = Report(seed, {k: str(v) for k, v in vars(cfg).items()}, run_dir=str(run_dir))
    say(f"seed {seed}; {cfg.seconds:.0f} s of faults; {cfg.users} users, {cfg.clients} clients at {cfg.rate:.0f} "
        f"requests/s; logs in {run_dir}")
    stack = Stack(run_dir, cfg.partitions)
    oracle = Oracle([f"player-{i:03d}" for i in range(cfg.users)], seed)
    try:
        await stack.start()
        say(f"stack ready (broker {stack.broker.bootstrap}, write API {stack.api_url}, read API {stack.sse_url})")
        load = Load(stack.api_url, API_KEY, oracle, cfg.clients, cfg.rate)
        probe = Client(stack.api_url, API_KEY, oracle)
        load.start()
        began = time.monotonic()
        kinds = plan(rng)  # every kind once, in a random order; then again while time is left
        while time.monotonic() - began < cfg.seconds or len(report.faults) < len(FAULTS):
            if not kinds:
                kinds = plan(rng)
            kind = kinds.pop(0)
            await asyncio.sleep(rng.uniform(*cfg.gap_s))  # a random moment under load
            started = time.monotonic()
            fault: dict[str, Any] = {"kind": kind, "at_s": round(started - began, 1)}
            report.faults.append(fault)
            await inject(stack, kind, rng, fault)
            await wait_recovered(stack, probe, oracle, started, cfg.recovery_bound_s, fault)
            back = f"broker back {fault['broker_back_s']} s, " if "broker_back_s" in fault else ""
            detail = f"({back}ready: {', '.join(f'{k} {v} s' for k, v in sorted(fault.get('ready_s', {}).items()))})"
            say(f"{kind:<22} at {started - began:6.1f} s: " +
                (f"recovered in {fault['recovery_s']} s " if fault["recovery_s"] is not None else "NOT RECOVERED ")
                + detail)
            if fault["recovery_s"] is None:
                break
        say(f"faults over after {time.monotonic() - began:.0f} s; draining the load")
        await load.stop(drain_s=cfg.recovery_bound_s)
        await probe.close()
        report.undecided = len(oracle.undecided())
        report.load = oracle.figures()
        totals, report.settled_s = await wait_settled(stack.sse_url, oracle, cfg.settle_s)
        report.board_exact = await wait_board(stack.sse_url, oracle, cfg.settle_s)
        applied = await read_applied(stack.broker.bootstrap, stack.names.applied)
        report.check = verify(oracle, totals, applied)
    finally:
        report.restarts = {name: dict(c) for name, c in stack.restarts.items()}
        await stack.stop()
    (run_dir / "chaos.json").write_bytes(orjson.dumps(report.__dict__ | {"passed": report.passed},
                                                      option=orjson.OPT_INDENT_2))
    return report


def say(text: str) -> None:
    print(f"chaos: {text}", flush=True)


def figures(report: Report) -> list[str]:
    """The table ``make chaos`` prints."""
    lines = ["| fault | count | recovery s median | max | not recovered |", "|---|---|---|---|---|"]
    for kind in FAULTS:
        times = [f["recovery_s"] for f in report.faults if f["kind"] == kind and f["recovery_s"] is not None]
        count = sum(1 for f in report.faults if f["kind"] == kind)
        med = f"{statistics.median(times):.1f}" if times else "-"
        top = f"{max(times):.1f}" if times else "-"
        lines.append(f"| {kind} | {count} | {med} | {top} | {count - len(times)} |")
    load, check = report.load, report.check
    lines += [
        f"events accepted: {load.get('accepted', 0)} of {load.get('requests', 0)} requests "
        f"(answers {load.get('statuses', {})}); {load.get('retried_requests', 0)} requests retried with their "
        f"Idempotency-Key, {load.get('attempts', 0)} attempts in all (causes {load.get('retry_causes', {})})",
        f"restarts by the watchdog: {report.restarts}",
        f"lost: {check.get('lost', '?')}   doubled: {check.get('doubled', '?')}   unexpected: "
        f"{check.get('unexpected', '?')}   users with a wrong total: {check.get('users_wrong', '?')} of "
        f"{report.config.get('users')}   board top exact: {report.board_exact}   undecided requests: "
        f"{report.undecided}   settled in {report.settled_s or 0:.1f} s",
        f"score-applied: {check.get('applied_records', 0)} records, {check.get('applied_events', 0)} distinct events",
        f"seed {report.seed}: {'PASS' if report.passed else 'FAIL'}",
    ]
    if check and not report.passed:
        details = {k: v for k, v in check.items() if k.endswith(("ids", "totals"))}
        lines.append(f"details: {orjson.dumps(details).decode()}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="inject faults for this long (0: each once)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run's plan (printed at the start)")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rate", type=float, default=80.0, help="new requests per second")
    parser.add_argument("--recovery-bound", type=float, default=180.0, help="seconds a recovery may take")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep the logs and data here (default: a temp "
                        "dir, deleted after a pass)")
    args = parser.parse_args(argv)
    cfg = Config(seconds=args.seconds, seed=args.seed, users=args.users, clients=args.clients, rate=args.rate,
                 recovery_bound_s=args.recovery_bound, run_dir=args.run_dir)
    report = asyncio.run(run(cfg))
    for line in figures(report):
        say(line)
    if report.passed and args.run_dir is None:
        shutil.rmtree(report.run_dir, ignore_errors=True)
    elif not report.passed:
        say(f"logs and data kept in {report.run_dir}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
