"""``make run``: the whole stack in the foreground, with prefixed logs, stopped as one by Ctrl-C.

1. Uses the broker at ``KAFKA_BOOTSTRAP_SERVERS`` if it answers (and says so loudly, with its cluster id: the
   topics are created there; with ``KAFKA_SECURITY_PROTOCOL`` and the rest, as the services connect), else starts
   the local KRaft broker with its data under ``.data/kafka`` (``SCOREBOARD_RUN_DIR`` moves ``.data``). That one
   is plaintext: with a ``KAFKA_SECURITY_PROTOCOL`` other than ``PLAINTEXT`` and no broker answering, it stops.
2. Creates the contract's topics (idempotent).
3. Runs the stream worker, the write API and the read/stream API as child processes. Every line they write goes
   to ``.data/stack.log``, prefixed with the service; the console shows our own code's INFO lines and every
   library's WARNING and above (:class:`ConsoleFilter`). The API key is the environment's ``SCOREBOARD_API_KEYS``
   or a dev key kept in ``.data/dev-api-key``; the admin key (the moderation routes) likewise
   ``SCOREBOARD_ADMIN_KEYS`` or a dev key kept in ``.data/dev-admin-key``.
4. Once every service's ``/readyz`` answers 200, prints the ready banner: the URLs, the keys and the ``export
   KEY=...`` line the README's curl examples use.
5. On SIGINT/SIGTERM, or when any child dies, stops every child and the broker it started: nothing is left running.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from schemas.boards import Boards, BoardsError
from schemas.catalog import ActionCatalog, CatalogError
from schemas.runtime.kafka import BrokerRefused, client_options, plaintext
from schemas.runtime.topic_admin import ensure_topics
from schemas.settings import CommonSettings, describe_invalid
from schemas.topics import contract_topics
from tools.kafka_local import CLUSTER_ID, LocalKafka, bootstrap_answers
from tools.supervisor import Supervisor, http_ready

SERVICES = (("worker", "stream_app"), ("api", "producer_api"), ("sse", "sse_server"))
OUR_LOGGERS = ("stream_app", "producer_api", "sse_server", "schemas", "tools")
# "2026-12-01 04:29:20,215 INFO sse_server: ..." — the format of every service's log lines
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<name>[^\s:]+): (?P<msg>.*)")
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50, "FATAL": 50}


class ConsoleFilter:
    """Which of a service's output lines the console shows: a log record of our own code at INFO or above, any
    library's at WARNING or above, with the lines that continue it (tables, tracebacks); a line that is not a log
    record (a configuration error printed before logging is set up) always. Everything goes to the log file."""

    def __init__(self) -> None:
        self.showing = True  # of the record the next continuation line belongs to

    def show(self, line: str) -> bool:
        found = RECORD.match(line)
        if found is None:
            return self.showing
        level = LEVELS.get(found.group("level"), 50)
        # "[^--BatchConsumer]: Starting...": mode's service life-cycle lines, library chatter even from our services
        ours = found.group("name").split(".")[0] in OUR_LOGGERS and not found.group("msg").startswith("[^")
        self.showing = level >= (20 if ours else 30)
        return self.showing


async def describe_broker(options: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """The broker's metadata (``cluster_id``, ``controller_id``, ``brokers``) over the Kafka protocol, connecting
    with ``options`` (``client_options(settings)``)."""
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        return dict(await asyncio.wait_for(admin.describe_cluster(), timeout_s))
    finally:
        await admin.close()


def export_line_for(keys: str) -> str:
    """The banner's ``export KEY=...`` for the user's own keys, without printing them: the first entry, and of an
    ``id:key`` entry the key alone (what ``X-API-KEY`` takes)."""
    line = "export KEY=${SCOREBOARD_API_KEYS%%,*}"
    if ":" in keys.split(",")[0]:
        line += "; export KEY=${KEY#*:}"
    return line


def banner(api_url: str, sse_url: str, key_line: str, export_line: str, run_dir: Path, seconds: float,
           broker_log: Path | None = None, admin_line: str = "") -> list[str]:
    """The lines printed once every service is ready (the README shows them)."""
    broker = f"  (the broker's: {broker_log})" if broker_log is not None else ""
    return [
        f"ready: in {seconds:.0f}s — Ctrl-C stops everything (the data stays in {run_dir})",
        f"  write API    {api_url}   (docs {api_url}/docs)",
        f"  read API     {sse_url}   (live board {sse_url}/, stream {sse_url}/leaderboard/stream)",
        f"  API key      {key_line}",
        *([f"  admin key    {admin_line}"] if admin_line else []),
        f"  for curl:    {export_line}",
        f"  full logs    {run_dir / 'stack.log'}{broker}",
    ]


class Stack:
    def __init__(self, run_dir: Path, log: IO[str]) -> None:
        self.run_dir = run_dir
        self.log = log
        self.log_lock = threading.Lock()
        self.children: dict[str, Supervisor] = {}
        self.broker: LocalKafka | None = None
        self.stopping = threading.Event()

    def emit(self, line: str, console: bool) -> None:
        with self.log_lock:
            self.log.write(line + "\n")
            self.log.flush()
            if console:
                print(line, flush=True)

    def say(self, text: str) -> None:
        self.emit(f"[stack ] {text}", console=True)

    def dev_key(self, name: str = "dev-api-key", prefix: str = "dev-") -> str:
        path = self.run_dir / name
        if not path.exists():
            path.write_text(f"{prefix}{secrets.token_urlsafe(24)}")
            path.chmod(0o600)
        return path.read_text().strip()

    def start_broker(self, settings: CommonSettings) -> bool:
        """A broker to use: the one answering at the bootstrap address (said loudly), else one of our own.
        False when something answers there that is not a Kafka broker."""
        first = settings.kafka_bootstrap_servers.split(",")[0].strip()
        if bootstrap_answers(settings.kafka_bootstrap_servers):
            return self.existing_broker(settings)
        if settings.kafka_security_protocol != "PLAINTEXT":
            self.say(f"kafka: nothing answers at {first}, and the local broker make run would start there is "
                     f"plaintext, not KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}; start your broker, "
                     "or unset the KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*/KAFKA_SSL_* settings")
            return False
        port = int(first.rpartition(":")[2])
        controller = int(os.environ.get("SCOREBOARD_KAFKA_CONTROLLER_PORT", str(port + 1)))
        self.say(f"kafka: nothing answers at {first}; starting a local broker (data in {self.run_dir / 'kafka'})")
        started = time.monotonic()
        self.broker = LocalKafka(self.run_dir / "kafka", port, controller).start()
        self.say(f"kafka: ready on {self.broker.bootstrap} in {time.monotonic() - started:.1f}s")
        return True

    def existing_broker(self, settings: CommonSettings) -> bool:
        bootstrap = settings.kafka_bootstrap_servers
        try:
            cluster = asyncio.run(describe_broker(client_options(settings)))
        except Exception as exc:  # noqa: BLE001 - any failure means: not a broker we can use
            self.say(f"kafka: something answers at {bootstrap}, but not as a Kafka broker ({exc!r}); stop it, or "
                     "set KAFKA_BOOTSTRAP_SERVERS to a free port (make run then starts its own broker there)")
            return False
        cluster_id = cluster.get("cluster_id")
        brokers = ", ".join(f"{b['host']}:{b['port']}" for b in cluster.get("brokers", []))
        ours = " — the id of the broker make run starts: one left running?" if cluster_id == CLUSTER_ID else ""
        for line in (
            "!" * 100,
            f"!! kafka: a broker ALREADY ANSWERS at {bootstrap}: cluster id {cluster_id}{ours}",
            f"!!        (brokers {brokers or 'unknown'}). make run does NOT start its own broker: it creates its "
            "topics on that one",
            "!!        and uses it. To run on a broker of its own, set KAFKA_BOOTSTRAP_SERVERS to a free port.",
            "!" * 100,
        ):
            self.say(line)
        return True

    def spawn(self, name: str, module: str, env: dict[str, str]) -> None:
        """Start ``python -m module`` (its output piped to :meth:`_pump`); it dies with us, even by SIGKILL."""
        child = Supervisor.module(module, env=env, name=name, cwd=Path.cwd(), die_with_parent=True).spawn()
        self.children[name] = child
        threading.Thread(target=self._pump, args=(name, child), daemon=True).start()

    def _pump(self, name: str, child: Supervisor) -> None:
        console = ConsoleFilter()
        for raw in child.lines():
            line = raw.rstrip()
            self.emit(f"[{name:<6}] {line}", console=console.show(line))
        if not self.stopping.is_set():
            child.wait()
            self.say(f"{name} exited with {child.returncode}; stopping the stack")
            self.stopping.set()

    def wait_ready(self, urls: list[str], timeout: float = 120.0) -> bool:
        """Every service's ``/readyz`` answers 200 (the worker's too: one definition of ready, stream_app.health)."""
        deadline = time.monotonic() + timeout
        pending = set(urls)
        while pending and time.monotonic() < deadline and not self.stopping.is_set():
            for url in list(pending):
                if http_ready(url, timeout=1.0):
                    pending.discard(url)
            self.stopping.wait(0.3)
        return not pending

    def stop(self) -> None:
        self.stopping.set()
        for child in self.children.values():
            child.terminate()  # SIGTERM to each one's process group, all at once
        deadline = time.monotonic() + 30
        for name, child in self.children.items():
            if not child.wait(max(0.1, deadline - time.monotonic())):
                self.say(f"{name} did not stop in time; killing it")
                child.kill()
        if self.broker is not None:
            self.broker.stop()
            self.say("kafka: stopped")
        self.say("stopped: no process left running")


def main() -> int:
    started = time.monotonic()
    run_dir = Path(os.environ.get("SCOREBOARD_RUN_DIR", ".data")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings = CommonSettings()
        # the services refuse a bad catalog or boards file at start; say so before a broker is started for them
        Boards.load(settings.boards_file, ActionCatalog.load(settings.actions_file))
    except ValidationError as exc:
        print(f"make run: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    except (CatalogError, BoardsError) as exc:
        print(f"make run: configuration error: {exc}", file=sys.stderr)
        return 2
    with (run_dir / "stack.log").open("a", encoding="utf-8") as log:
        log.write(f"\n===== make run, {time.strftime('%Y-%m-%d %H:%M:%S %z')} =====\n")
        return run(Stack(run_dir, log), settings, started)


def run(stack: Stack, settings: CommonSettings, started: float) -> int:
    run_dir = stack.run_dir
    signal.signal(signal.SIGTERM, lambda *_: stack.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stack.stopping.set())
    env = dict(os.environ)
    env.setdefault("SCOREBOARD_ENV", "dev")
    env.setdefault("SCOREBOARD_DATA_DIR", str(run_dir / "worker"))
    env["PYTHONUNBUFFERED"] = "1"
    stack.say(f"starting; the console shows what matters, every service's full log goes to {run_dir / 'stack.log'}")
    if env.get("SCOREBOARD_API_KEYS"):
        key_line = "yours, from SCOREBOARD_API_KEYS"
        export_line = export_line_for(env["SCOREBOARD_API_KEYS"])
    else:
        env["SCOREBOARD_API_KEYS"] = stack.dev_key()
        key_line = f"{env['SCOREBOARD_API_KEYS']}  (a dev key, kept in {run_dir / 'dev-api-key'})"
        export_line = f"export KEY={env['SCOREBOARD_API_KEYS']}"
        stack.say(f"dev API key (X-API-KEY): {env['SCOREBOARD_API_KEYS']}  (set SCOREBOARD_API_KEYS to use yours)")
    if env.get("SCOREBOARD_ADMIN_KEYS"):
        admin_line = "yours, from SCOREBOARD_ADMIN_KEYS"
    else:  # id "dev-admin" (recorded with each admin action); the key is what follows the colon
        admin_key = stack.dev_key("dev-admin-key", "dev-admin-")
        env["SCOREBOARD_ADMIN_KEYS"] = f"dev-admin:{admin_key}"
        admin_line = (f"{admin_key}  (X-ADMIN-KEY for /admin/..., a dev key, kept in "
                      f"{run_dir / 'dev-admin-key'})")
    api_url = f"http://127.0.0.1:{env.get('SCOREBOARD_API_PORT', '8000')}"
    sse_url = f"http://127.0.0.1:{env.get('SCOREBOARD_SSE_PORT', '8001')}"
    ready_urls = [f"{api_url}/readyz", f"{sse_url}/readyz"]
    if env.get("SCOREBOARD_WORKER_WEB_ENABLED", "true").strip().lower() not in ("0", "false", "no", "off"):
        ready_urls.append(f"http://127.0.0.1:{env.get('SCOREBOARD_WORKER_WEB_PORT', '6066')}/readyz")
    code = 0
    try:
        if not stack.start_broker(settings):
            return 1
        env["KAFKA_BOOTSTRAP_SERVERS"] = stack.broker.bootstrap if stack.broker else settings.kafka_bootstrap_servers
        specs = contract_topics(settings.topics, settings.partitions, settings.audit_retention_ms,
                                settings.replication_factor)
        options = plaintext(stack.broker.bootstrap) if stack.broker else client_options(settings)
        try:
            created = asyncio.run(ensure_topics(options, specs, settings.kafka_connect_timeout))
        except BrokerRefused as exc:
            stack.say(f"kafka: {exc}")
            return 1
        stack.say(f"topics: ready ({len(created)} created)")
        stack.say("starting the worker, the write API and the read API (about 5 s)")
        for name, module in SERVICES:
            stack.spawn(name, module, env)
        if stack.wait_ready(ready_urls):
            broker_log = stack.broker.log_path if stack.broker else None
            for line in banner(api_url, sse_url, key_line, export_line, run_dir, time.monotonic() - started,
                               broker_log, admin_line):
                stack.say(line)
        stack.stopping.wait()
        code = 0 if all(c.running for c in stack.children.values()) else 1
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
