"""``make run``'s supervisor: starts its own broker when none answers, reaches ready (the banner giving the key and
the ``export KEY=`` line), stops everything on Ctrl-C, and the next run finds the earlier data; on a broker that
already answers it says so loudly, naming the cluster id."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tools.kafka_local import CLUSTER_ID, LocalKafka, free_port, port_answers
from tools.supervisor import Supervisor

pytestmark = pytest.mark.integration

def _run_until_ready(env: dict[str, str], log: Path) -> Supervisor:
    """``make run`` started, ready once it prints its banner (the thing under test: after every ``/readyz``)."""
    return Supervisor.module("tools.run_stack", env=env, name="make run", log_path=log,
                             ready_line="[stack ] ready:").start(180)


def _post(api: str, key: str) -> httpx.Response:
    return httpx.post(f"{api}/scores", json={"user_id": "runner", "action_id": "win_match"},
                      headers={"X-API-KEY": key}, timeout=10)


def _post_until_200(api: str, key: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = _post(api, key)
        if response.status_code == 200:
            return int(response.json()["new_score"])
        time.sleep(0.2)
    raise AssertionError("no 200 from the stack")


def test_make_run_starts_stops_and_keeps_data(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("kafka", "controller", "api", "sse", "worker")}
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    env = {**keep, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
           "SCOREBOARD_KAFKA_CONTROLLER_PORT": str(ports["controller"]),
           "SCOREBOARD_RUN_DIR": str(tmp_path / "data"), "SCOREBOARD_API_PORT": str(ports["api"]),
           "SCOREBOARD_SSE_PORT": str(ports["sse"]), "SCOREBOARD_WORKER_WEB_PORT": str(ports["worker"]),
           "SCOREBOARD_WORKER_SESSION_TIMEOUT_S": "6", "SCOREBOARD_PARTITIONS": "2"}
    api = f"http://127.0.0.1:{ports['api']}"
    log = tmp_path / "run-1.log"
    proc = _run_until_ready(env, log)
    key = (tmp_path / "data" / "dev-api-key").read_text().strip()
    console = log.read_text()
    banner = console[console.index("[stack ] ready:"):]
    assert key in banner and f"export KEY={key}\n" in banner  # the key and the line to paste, with the URLs
    assert f"{api}/docs" in banner and f"http://127.0.0.1:{ports['sse']}/" in banner
    assert str(tmp_path / "data" / "stack.log") in banner
    assert "aiokafka" in (tmp_path / "data" / "stack.log").read_text()  # library INFO: in the file, not the console
    assert " INFO aiokafka" not in console and " INFO uvicorn" not in console
    assert _post_until_200(api, key) == 25
    admin = (tmp_path / "data" / "dev-admin-key").read_text().strip()
    assert f"admin key    {admin}" in banner
    unban = httpx.delete(f"{api}/admin/users/runner/ban", headers={"X-ADMIN-KEY": admin}, timeout=10)
    assert unban.status_code == 202, unban.text  # recorded on moderation (unbanning a user not banned: no change)
    assert httpx.delete(f"{api}/admin/users/runner/ban", headers={"X-ADMIN-KEY": key}, timeout=10).status_code == 401
    assert httpx.get(f"http://127.0.0.1:{ports['sse']}/leaderboard", timeout=5).status_code == 200

    proc.signal_group(signal.SIGINT)  # Ctrl-C
    assert proc.wait(90) and proc.returncode == 0
    for port in ports.values():
        assert not port_answers("127.0.0.1", port), f"port {port} still bound after Ctrl-C"
    assert "stopped: no process left running" in log.read_text()

    proc = _run_until_ready(env, tmp_path / "run-2.log")  # second run: same data dir
    try:
        assert _post_until_200(api, key) == 50  # the first run's total survived
    finally:
        assert proc.stop(90) == 0


def test_make_run_on_a_broker_already_answering_says_so_with_its_cluster_id(tmp_path: Path,
                                                                          kafka_broker: LocalKafka) -> None:
    ports = {name: free_port() for name in ("api", "sse", "worker")}
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    prefix = f"t{uuid.uuid4().hex[:10]}-"  # the session broker is shared: topics and group of this test only
    env = {**keep, "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap, "SCOREBOARD_TOPIC_PREFIX": prefix,
           "SCOREBOARD_WORKER_ID": f"{prefix}worker", "SCOREBOARD_API_KEYS": "existing-broker-key",
           "SCOREBOARD_RUN_DIR": str(tmp_path / "data"), "SCOREBOARD_API_PORT": str(ports["api"]),
           "SCOREBOARD_SSE_PORT": str(ports["sse"]), "SCOREBOARD_WORKER_WEB_PORT": str(ports["worker"]),
           "SCOREBOARD_PARTITIONS": "2"}
    log = tmp_path / "run.log"
    proc = _run_until_ready(env, log)
    try:
        console = log.read_text()
        assert f"a broker ALREADY ANSWERS at {kafka_broker.bootstrap}: cluster id {CLUSTER_ID}" in console
        assert "starting a local broker" not in console
        assert "export KEY=${SCOREBOARD_API_KEYS%%,*}" in console  # a key of the user's own is not printed
        assert "existing-broker-key" not in console
        assert _post_until_200(f"http://127.0.0.1:{ports['api']}", "existing-broker-key") == 25
    finally:
        proc.signal_group(signal.SIGINT)
        assert proc.wait(90) and proc.returncode == 0
    assert port_answers("127.0.0.1", kafka_broker.port)  # the broker it did not start is left running


def test_make_run_refuses_a_bad_boards_file_before_starting_a_broker(tmp_path: Path) -> None:
    boards = tmp_path / "boards.yaml"
    boards.write_text("wins:\n  actions: [no_such_action]\n")
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    env = {**keep, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "SCOREBOARD_RUN_DIR": str(tmp_path / "data"),
           "SCOREBOARD_BOARDS_FILE": str(boards)}
    proc = Supervisor.module("tools.run_stack", env=env, name="make run", log_path=tmp_path / "run.log").spawn()
    assert proc.wait(60) and proc.returncode == 2
    said = (tmp_path / "run.log").read_text()
    assert "make run: configuration error:" in said and "wins" in said and "no_such_action" in said
    assert not (tmp_path / "data" / "kafka").exists() and not port_answers("127.0.0.1", port)
