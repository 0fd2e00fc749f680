"""Bench 10's Kafka Streams baseline (``bench/baselines/kstreams/``, Java 17): build it with Maven, configure it,
start it.

Why a build step in the bench: the baseline must run from a fresh clone with nothing installed by hand but Java 17
and Maven (the broker already needs both). ``ensure_built`` compiles the app and copies its runtime jars
(``kafka-streams`` and what it brings: ~95 MB, RocksDB's JNI jar being most of it) into
``bench/baselines/kstreams/target/`` (git-ignored), trying Maven offline first (``-o``: nothing is downloaded once
the local repository holds the jars) and online only if that fails; a stamp of the sources' hash skips the build
when nothing changed. ``make bench-deps`` (so ``make test`` and ``make bench``) runs it ahead of the benches, so the
bench smoke in the test suite never waits on a download. Measured here: ~16 s from an empty Maven repository, ~7 s
online with it warm, 0 s when the stamp matches.

CLI: ``python -m bench.baselines.kstreams_app build``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.procs import clean_env
from schemas.catalog import ActionCatalog
from tools.supervisor import Supervisor

APP_DIR = Path(__file__).resolve().parent / "kstreams"
TARGET = APP_DIR / "target"
STAMP = TARGET / ".built"
MAIN_CLASS = "scoreboard.kstreams.ScoreboardStreams"
KAFKA_STREAMS_VERSION = "4.4.0"  # bench/baselines/kstreams/pom.xml
JVM_HEAP = "1g"
BUILD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Build:
    classpath: str
    how: str  # "up to date", "offline" or "online"
    seconds: float


def sources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([APP_DIR / "pom.xml", *(APP_DIR / "src").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(APP_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def classpath() -> str:
    return f"{TARGET / 'classes'}:{TARGET / 'lib'}/*"


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time (a bench and ``make bench-deps`` may run side by side)."""
    TARGET.mkdir(parents=True, exist_ok=True)
    with (TARGET / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_built() -> Build:
    """The app's classpath, compiled from the current sources (see the module docstring)."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        raise RuntimeError("the Kafka Streams baseline needs Java 17 and Maven on the PATH (see `make prereqs`)")
    with _build_lock():
        wanted = sources_hash()
        if STAMP.exists() and STAMP.read_text() == wanted and (TARGET / "lib").is_dir():
            return Build(classpath(), "up to date", 0.0)
        STAMP.unlink(missing_ok=True)
        started = time.monotonic()
        tail = ""
        for how, extra in (("offline", ["-o"]), ("online", [])):
            cmd = ["mvn", "-B", "-q", "-Dstyle.color=never", *extra, "-f", str(APP_DIR / "pom.xml"), "compile"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,  # noqa: S603
                                  check=False)
            if proc.returncode == 0:
                STAMP.write_text(wanted)
                return Build(classpath(), how, time.monotonic() - started)
            tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"building the Kafka Streams baseline failed (mvn compile, offline then online):\n{tail}")


def write_config(path: Path, *, bootstrap: str, app_id: str, source: str, output: str, state_dir: Path,
                 catalog: ActionCatalog, health_port: int, top_k: int, emit_ms: int) -> Path:
    """The app's one properties file: Kafka Streams settings plus ``scoreboard.*`` (the catalog beside it)."""
    catalog_path = path.with_suffix(".catalog.json")
    points = {a: p for a, p in catalog.as_dict().items() if isinstance(p, int)}  # value actions: not in the baseline
    catalog_path.write_bytes(orjson.dumps(points))
    settings = {
        "application.id": app_id, "bootstrap.servers": bootstrap, "processing.guarantee": "exactly_once_v2",
        "state.dir": str(state_dir), "num.stream.threads": "1",
        "scoreboard.input": source, "scoreboard.output": output, "scoreboard.catalog": str(catalog_path),
        "scoreboard.top.k": str(top_k), "scoreboard.emit.interval.ms": str(emit_ms),
        "scoreboard.health.port": str(health_port),
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return path


def supervisor(build: Build, config: Path, name: str, log_path: Path, health_port: int) -> Supervisor:
    """The app's JVM (default collector, heap capped at ``JVM_HEAP``), ready when ``/readyz`` says RUNNING."""
    argv = ["java", f"-Xmx{JVM_HEAP}", "-cp", build.classpath, MAIN_CLASS, str(config)]
    return Supervisor(argv, env=clean_env(), name=name, log_path=log_path,
                      ready_url=f"http://127.0.0.1:{health_port}/readyz")


def main(argv: list[str]) -> int:
    if argv != ["build"]:
        print("usage: python -m bench.baselines.kstreams_app build", file=sys.stderr)
        return 2
    build = ensure_built()
    detail = "" if build.how == "up to date" else f" in {build.seconds:.1f}s (Maven {build.how})"
    print(f"kstreams baseline: {build.how if not detail else 'built'}{detail}: {TARGET}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
