"""``make run``: the whole stack in the foreground, with prefixed logs, stopped as one by Ctrl-C.

1. Uses the broker at ``KAFKA_BOOTSTRAP_SERVERS`` if it answers, else starts the local KRaft broker with its data
   under ``.data/kafka`` (``SCOREBOARD_RUN_DIR`` moves ``.data``).
2. Creates the contract's topics (idempotent).
3. Runs the stream worker, the write API and the read/stream API as child processes; each child's output is
   printed with a prefix. The API key is the environment's ``SCOREBOARD_API_KEYS`` or a dev key kept in
   ``.data/dev-api-key`` (printed once at start so it can be used with curl).
4. On SIGINT/SIGTERM, or when any child dies, stops every child and the broker it started: nothing is left running.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from schemas.runtime.topic_admin import ensure_topics
from schemas.settings import CommonSettings
from schemas.topics import contract_topics
from tools.kafka_local import LocalKafka, bootstrap_answers, die_with_parent

SERVICES = (("worker", "stream_app"), ("api", "producer_api"), ("sse", "sse_server"))


class Stack:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.broker: LocalKafka | None = None
        self.stopping = threading.Event()

    def say(self, text: str) -> None:
        print(f"[stack ] {text}", flush=True)

    def dev_key(self) -> str:
        path = self.run_dir / "dev-api-key"
        if not path.exists():
            path.write_text(f"dev-{secrets.token_urlsafe(24)}")
            path.chmod(0o600)
        return path.read_text().strip()

    def start_broker(self, settings: CommonSettings) -> None:
        first = settings.kafka_bootstrap_servers.split(",")[0].strip()
        if bootstrap_answers(settings.kafka_bootstrap_servers):
            self.say(f"kafka: using the broker answering at {settings.kafka_bootstrap_servers}")
            return
        port = int(first.rpartition(":")[2])
        controller = int(os.environ.get("SCOREBOARD_KAFKA_CONTROLLER_PORT", str(port + 1)))
        self.say(f"kafka: nothing answers at {first}; starting a local broker (data in {self.run_dir / 'kafka'})")
        started = time.monotonic()
        self.broker = LocalKafka(self.run_dir / "kafka", port, controller).start()
        self.say(f"kafka: ready on {self.broker.bootstrap} in {time.monotonic() - started:.1f}s")

    def spawn(self, name: str, module: str, env: dict[str, str]) -> None:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", module], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        self.children[name] = proc
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            print(f"[{name:<6}] {line}", flush=True)
        if not self.stopping.is_set():
            self.say(f"{name} exited with {proc.wait()}; stopping the stack")
            self.stopping.set()

    def wait_ready(self, urls: list[str], timeout: float = 120.0) -> bool:
        """Every service's ``/readyz`` answers 200 (the worker's too: one definition of ready, stream_app.health)."""
        deadline = time.monotonic() + timeout
        pending = set(urls)
        while pending and time.monotonic() < deadline and not self.stopping.is_set():
            for url in list(pending):
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        pending.discard(url)
                except httpx.HTTPError:
                    pass
            self.stopping.wait(0.3)
        return not pending

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.children.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, proc in self.children.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.broker is not None:
            self.broker.stop()
            self.say("kafka: stopped")
        self.say("stopped: no process left running")


def main() -> int:
    run_dir = Path(os.environ.get("SCOREBOARD_RUN_DIR", ".data")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = CommonSettings()
    stack = Stack(run_dir)
    signal.signal(signal.SIGTERM, lambda *_: stack.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stack.stopping.set())
    env = dict(os.environ)
    env.setdefault("SCOREBOARD_ENV", "dev")
    env.setdefault("SCOREBOARD_DATA_DIR", str(run_dir / "worker"))
    env["PYTHONUNBUFFERED"] = "1"
    if not env.get("SCOREBOARD_API_KEYS"):
        env["SCOREBOARD_API_KEYS"] = stack.dev_key()
        stack.say(f"dev API key (X-API-KEY): {env['SCOREBOARD_API_KEYS']}  (set SCOREBOARD_API_KEYS to use yours)")
    api_url = f"http://127.0.0.1:{env.get('SCOREBOARD_API_PORT', '8000')}"
    sse_url = f"http://127.0.0.1:{env.get('SCOREBOARD_SSE_PORT', '8001')}"
    ready_urls = [f"{api_url}/readyz", f"{sse_url}/readyz"]
    if env.get("SCOREBOARD_WORKER_WEB_ENABLED", "true").strip().lower() not in ("0", "false", "no", "off"):
        ready_urls.append(f"http://127.0.0.1:{env.get('SCOREBOARD_WORKER_WEB_PORT', '6066')}/readyz")
    code = 0
    try:
        stack.start_broker(settings)
        env["KAFKA_BOOTSTRAP_SERVERS"] = stack.broker.bootstrap if stack.broker else settings.kafka_bootstrap_servers
        specs = contract_topics(settings.topics, settings.partitions, settings.audit_retention_ms,
                            settings.replication_factor)
        created = asyncio.run(ensure_topics(env["KAFKA_BOOTSTRAP_SERVERS"], specs, settings.kafka_connect_timeout))
        stack.say(f"topics: ready ({len(created)} created)")
        for name, module in SERVICES:
            stack.spawn(name, module, env)
        if stack.wait_ready(ready_urls):
            stack.say(f"ready: write API {api_url} (docs {api_url}/docs), live board {sse_url}/ — Ctrl-C stops all")
        stack.stopping.wait()
        code = 0 if all(p.poll() is None for p in stack.children.values()) else 1
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
