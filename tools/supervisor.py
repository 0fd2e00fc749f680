"""One child process, supervised: the one way ``make run``, the tests, the bench and the chaos run start, wait
for, stop and kill what they run (our three services, a broker, a redis-server, ``make run`` itself).

Why one: three hand-written copies (tests, bench, ``make run``) had drifted apart — which signal went to the
process or its group, how long a stop waited, whether a log line or ``/readyz`` meant ready. Here, for every user:

- ``start``/``start_async``: spawn ``argv`` with exactly the ``env`` given, in a session (process group) of its
  own, its output appended to ``log_path`` (or, with no log path, a pipe the caller reads line by line with
  ``lines()``); then wait until ready — ``ready_url`` answers 200 (the services' ``/readyz``: the worker's too, one
  definition of ready), or ``ready_line`` appears in what it wrote since this start — polling with a deadline,
  failing fast (``Exited``) when the process exits first, and stopping it on ``TimeoutError``.
- ``stop``/``stop_async``: SIGTERM to the group (once), then SIGKILL to the group after the bound.
  ``kill``: ``kill -9`` of the group, for crash tests and chaos; nothing is flushed.
- ``die_with_parent``: the kernel SIGTERMs the child when the thread that started it dies (``make run``: no orphan
  services or broker when it is killed). It is per thread: only for children started from a long-lived thread.

Why not a library: mirakuru (the well-kept one; pytest-xprocess is pytest-only, so not for ``make run`` or the bench)
waits synchronously only (the bench and the chaos run start services concurrently from an event loop), reads a
ready line from a pipe it then stops draining (the child blocks once the pipe is full) instead of a log file, probes
HTTP with HEAD (``/readyz`` is GET) and has no die-with-parent. Wrapping it would keep most of this code and add
two dependencies (it needs psutil), so this module stays on the standard library and httpx — imported only
when a readiness URL is probed: ``make prereqs`` imports the broker runner, and this with it, before any package
is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.1  # how often readiness and exit are checked while waiting
PROBE_TIMEOUT_S = 2.0  # one HTTP readiness probe
TAIL = 4000  # characters of its log since this start, quoted when a start fails


def set_parent_death_signal() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Ask Linux to SIGTERM this process when the thread that forked it dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def http_ready(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One readiness probe: ``GET url`` answers 200."""
    import httpx  # imported here, not at the top: see the module docstring

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class Exited(RuntimeError):
    """The process exited before it was ready."""


class Supervisor:
    """One child process: ``argv`` run in ``cwd`` with exactly ``env``; see the module's docstring."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], name: str | None = None,
                 log_path: Path | None = None, ready_url: str | None = None, ready_line: str | None = None,
                 ready_also: Callable[[], bool] | None = None, cwd: Path = ROOT,
                 die_with_parent: bool = False) -> None:
        if ready_line is not None and log_path is None:
            raise ValueError("ready_line needs a log_path to look for it in")
        self.argv = list(argv)
        self.env = dict(env)
        self.name = name or Path(self.argv[0]).name
        self.log_path = log_path
        self.ready_url = ready_url
        self.ready_line = ready_line
        self.ready_also = ready_also  # a further condition, e.g. the broker's port accepts connections
        self.cwd = cwd
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() of the last spawn
        self.ready_after = 0.0  # seconds from that spawn to ready
        self._log_offset = 0
        self._terminated = False

    @classmethod
    def module(cls, module: str, *, env: Mapping[str, str], name: str | None = None,
               log_path: Path | None = None, ready_url: str | None = None, ready_line: str | None = None,
               cwd: Path = ROOT, die_with_parent: bool = False) -> Supervisor:
        """``python -m module`` with this interpreter."""
        return cls([sys.executable, "-m", module], env=env, name=name or module, log_path=log_path,
                   ready_url=ready_url, ready_line=ready_line, cwd=cwd, die_with_parent=die_with_parent)

    # -- state ---------------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code (``-N`` for signal N) once exited; None while running or before the first start."""
        return None if self.proc is None else self.proc.poll()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- output --------------------------------------------------------------------------------------------------

    def output(self) -> str:
        """Everything in the log file (earlier starts on the same file included)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def new_output(self) -> str:
        """What was written to the log since the last start (read from there: a broker's log grows large)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def lines(self) -> Iterator[str]:
        """Without a log path: the output's lines as they come (until the process closes it)."""
        assert self.proc is not None and self.proc.stdout is not None, "lines() is for a piped output"
        for raw in self.proc.stdout:
            yield raw.decode(errors="replace").rstrip("\n")

    # -- starting ------------------------------------------------------------------------------------------------

    def spawn(self) -> Self:
        """Start the process and return at once (``start`` waits until it is ready too)."""
        assert not self.running, f"{self.name} is running already"
        self._terminated = False
        self._log_offset = self.log_path.stat().st_size if self.log_path and self.log_path.exists() else 0
        log = self.log_path.open("ab") if self.log_path is not None else None
        try:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(  # noqa: S603 - argv is ours
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if log is None else log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=set_parent_death_signal if self.die_with_parent else None,  # noqa: PLW1509
            )
        finally:
            if log is not None:
                log.close()
        return self

    def start(self, timeout: float = 90.0) -> Self:
        self.spawn()
        self.wait_ready(timeout)
        return self

    async def start_async(self, timeout: float = 90.0) -> Self:
        self.spawn()
        await self.wait_ready_async(timeout)
        return self

    def _ready_by_line(self) -> bool:
        return self.ready_line is not None and self.ready_line in self.new_output()

    def _check_alive(self) -> None:
        code = self.returncode
        if code is not None:
            raise Exited(f"{self.name} exited with {code}:\n{self.new_output()[-TAIL:]}")

    def _not_ready(self, timeout: float) -> TimeoutError:
        return TimeoutError(f"{self.name} not ready within {timeout}s:\n{self.new_output()[-TAIL:]}")

    def _ready(self) -> Self:
        self.ready_after = time.monotonic() - self.started_at
        return self

    def ready_now(self) -> bool:
        """One look: ``ready_also()`` holds, if given, and the ready line was written or ``ready_url`` answers 200
        (neither given: ready once running)."""
        if self.ready_also is not None and not self.ready_also():
            return False
        if self.ready_line is None and self.ready_url is None:
            return self.running
        return self._ready_by_line() or (self.ready_url is not None and http_ready(self.ready_url))

    async def _ready_now_async(self, client: httpx.AsyncClient) -> bool:
        import httpx  # imported here, not at the top: see the module docstring

        if self.ready_also is not None and not self.ready_also():
            return False
        if (self.ready_line is None and self.ready_url is None) or self._ready_by_line():
            return True
        if self.ready_url is None:
            return False
        try:
            return (await client.get(self.ready_url)).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float) -> Self:
        """Until ready; ``Exited`` if it exits first, ``TimeoutError`` (after stopping it) past ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self.ready_now():
                return self._ready()
            time.sleep(POLL_S)
        self.stop()
        raise self._not_ready(timeout)

    async def wait_ready_async(self, timeout: float) -> Self:
        """``wait_ready`` without blocking the event loop (several services may start at once)."""
        import httpx  # imported here, not at the top: see the module docstring

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            while time.monotonic() < deadline:
                self._check_alive()
                if await self._ready_now_async(client):
                    return self._ready()
                await asyncio.sleep(POLL_S)
        await self.stop_async()
        raise self._not_ready(timeout)

    # -- stopping ------------------------------------------------------------------------------------------------

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process group, if the process has not been reaped (so the group id is still its)."""
        if self.running:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def terminate(self) -> None:
        """SIGTERM to the group, once per start (a second SIGTERM may mean "now" to some programs)."""
        if self.running and not self._terminated:
            self._terminated = True
            self.signal_group(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> bool:
        """Until the process exits (True) or ``timeout`` passes (False); no timeout: until it exits."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """``kill -9`` of the whole group: a crash, nothing flushed; returns once the process is reaped."""
        if self.running:
            self.signal_group(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL past ``timeout``; the exit code (None if never started)."""
        if self.proc is None:
            return None
        self.terminate()
        if not self.wait(timeout):
            self.kill()
        return self.proc.returncode

    async def stop_async(self, timeout: float = 30.0) -> int | None:
        """``stop`` without blocking the event loop."""
        if self.proc is None:
            return None
        self.terminate()
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        self.kill()
        return self.proc.poll()
