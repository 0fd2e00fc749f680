"""The one process supervisor (tools/supervisor.py), on tiny Python children: ready by a log line or by a URL,
fail fast when the child exits first, SIGTERM then SIGKILL past the bound, kill -9 of the whole group."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tools.kafka_local import free_port
from tools.supervisor import Exited, Supervisor

pytestmark = pytest.mark.process

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
)


def child(tmp_path: Path, code: str, *, ready_line: str | None = None, ready_url: str | None = None) -> Supervisor:
    return Supervisor([sys.executable, "-c", code], env=dict(os.environ), name="child", log_path=tmp_path / "c.log",
                      ready_line=ready_line, ready_url=ready_url)


def test_ready_by_a_line_written_since_this_start_and_stopped_by_sigterm(tmp_path: Path) -> None:
    (tmp_path / "c.log").write_text("up\n")  # an earlier run's line is not this start's
    proc = child(tmp_path, "import time; time.sleep(0.5); print('up', flush=True); time.sleep(600)", ready_line="up")
    proc.start(30)
    assert proc.running and proc.ready_after >= 0.5 and proc.new_output() == "up\n"
    assert proc.stop(30) == -signal.SIGTERM and not proc.running


def test_ready_by_url(tmp_path: Path) -> None:
    port = free_port()
    handler = "type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: (s.send_response(200), s.end_headers())})"
    code = f"import http.server as h; h.HTTPServer(('127.0.0.1', {port}), {handler}).serve_forever()"
    proc = child(tmp_path, code, ready_url=f"http://127.0.0.1:{port}/readyz").start(30)
    try:
        assert proc.ready_now()
    finally:
        proc.stop()


def test_a_child_that_exits_before_ready_fails_the_start_at_once_with_its_output(tmp_path: Path) -> None:
    proc = child(tmp_path, "import sys; print('bad setting'); sys.exit(2)", ready_line="never")
    with pytest.raises(Exited, match="exited with 2:\nbad setting"):
        proc.start(60)


def test_sigkill_follows_sigterm_past_the_bound(tmp_path: Path) -> None:
    proc = child(tmp_path, IGNORES_SIGTERM, ready_line="up").start(30)
    assert proc.stop(timeout=0.5) == -signal.SIGKILL


def test_kill_takes_the_whole_process_group(tmp_path: Path) -> None:
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(600)']); print(p.pid, flush=True); print('up', flush=True); time.sleep(600)")
    proc = child(tmp_path, code, ready_line="up").start(30)
    grandchild = int(proc.new_output().split()[0])
    proc.kill()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # killed with it: gone, or a zombie until its new parent reaps it
    while alive(grandchild):
        assert time.monotonic() < deadline, f"the grandchild {grandchild} outlived kill()"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_the_async_start_and_stop(tmp_path: Path) -> None:
    proc = await child(tmp_path, IGNORES_SIGTERM, ready_line="up").start_async(30)
    assert proc.running
    assert await proc.stop_async(timeout=0.5) == -signal.SIGKILL
