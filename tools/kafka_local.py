"""A real single-node Apache Kafka broker (KRaft) for development and tests.

Why this exists: the project is Kafka-native and its tests must run against the real broker, not a mock,
on machines without Docker. The broker's jars come from Maven Central (``tools/kafka/pom.xml``) into a
per-user cache outside the work tree, so a second start is fast and a fresh clone needs nothing installed
by hand but Java 17 and Maven. ``make run`` and the pytest session fixture both use :class:`LocalKafka`; the chaos
run (``bench/chaos.py``) stops it with SIGTERM (``stop``) or SIGKILL (``kill``) and starts it again on the same data
dir and ports. Its process is a :class:`tools.supervisor.Supervisor` like every other one: ready once it logs
``Kafka Server started`` and its port accepts connections, and it dies with the thread that started it.

For the tests of secure clusters, a broker can instead listen with ``SASL_SSL`` (:class:`SaslSsl`): TLS with a
certificate signed by a throwaway CA (:func:`make_test_pki`, Java's ``keytool``: nothing to install), logins with
SCRAM-SHA-256, SCRAM-SHA-512 (users stored at format time, as KRaft wants) and PLAIN.

CLI (``make kafka-jars`` runs ``fetch``)::

    python -m tools.kafka_local fetch               # download the jars into the cache
    python -m tools.kafka_local run --data-dir .data/kafka --port 9092
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tools.supervisor import Supervisor

KAFKA_VERSION = "4.1.1"
CLUSTER_ID = "c2NvcmVib2FyZC1sb2NhbA"  # fixed 22-char base64url id: formatting is repeatable
HERE = Path(__file__).resolve().parent
POM = HERE / "kafka" / "pom.xml"
LOG4J = HERE / "kafka" / "log4j2.properties"
READY_LINE = "Kafka Server started"


def cache_dir() -> Path:
    base = os.environ.get("SCOREBOARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scoreboard"
    )
    return Path(base) / f"kafka-{KAFKA_VERSION}"


DOWNLOAD_MB = 52  # the broker's runtime jars (43 MB) and, on a first use of Maven, its dependency plugin
_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \((\d+(?:\.\d+)?) (B|kB|MB)")
_UNITS = {"B": 1e-6, "kB": 1e-3, "MB": 1.0}


def downloaded_mb(line: str) -> float:
    """The size of one ``Downloaded from central: <url> (1.2 MB at 3.4 MB/s)`` line of ``mvn -B``, else 0."""
    found = _DOWNLOADED.search(line)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0


def ensure_jars() -> Path:
    """Return the folder of broker jars, fetching them with Maven on first use (~52 MB, about 50 s), with progress."""
    lib = cache_dir() / "lib"
    marker = cache_dir() / ".complete"
    if marker.exists():
        return lib
    if shutil.which("java") is None or shutil.which("mvn") is None:
        raise RuntimeError("Java 17+ and Maven are needed to fetch the local Kafka broker (see `make prereqs`)")
    tmp = cache_dir() / "lib.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = ["mvn", "-B", "-Dstyle.color=never", "-f", str(POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    print(f"kafka: downloading Apache Kafka {KAFKA_VERSION} from Maven Central (~{DOWNLOAD_MB} MB, once, "
          f"into {cache_dir()})", flush=True)
    tty = sys.stdout.isatty()
    total, shown, tail = 0.0, 0.0, collections.deque[str](maxlen=60)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as mvn:  # noqa: S603
        assert mvn.stdout is not None
        for line in mvn.stdout:
            tail.append(line.rstrip())
            total += downloaded_mb(line)
            if tty:
                print(f"\rkafka:   {total:5.1f} MB of ~{DOWNLOAD_MB} MB", end="", flush=True)
            elif total - shown >= 10:  # a log, not a terminal: a line every 10 MB
                shown = total
                print(f"kafka:   {total:.0f} MB of ~{DOWNLOAD_MB} MB", flush=True)
    if tty:
        print(flush=True)
    if mvn.returncode != 0:
        print("\n".join(tail), file=sys.stderr, flush=True)
        raise RuntimeError(f"fetching the Kafka jars failed: `{' '.join(cmd)}` exited with {mvn.returncode}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    marker.write_text(KAFKA_VERSION)
    print(f"kafka: {sum(1 for _ in lib.iterdir())} jars in {lib} ({total:.0f} MB downloaded)", flush=True)
    return lib


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def bootstrap_answers(servers: str) -> bool:
    """True when any host:port of a bootstrap list accepts a TCP connection."""
    for entry in servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit() and port_answers(host.strip("[]"), int(port)):
            return True
    return False


@dataclass(frozen=True)
class Pki:
    """A throwaway CA and a broker certificate it signed, for 127.0.0.1 and localhost (tests only)."""

    ca_pem: Path  # what clients trust: KAFKA_SSL_CAFILE
    keystore: Path  # PKCS12: the broker's key and certificate chain
    password: str  # of the keystore and its key


def make_test_pki(folder: Path) -> Pki:
    """Generate a CA (``ca.pem``) and a broker keystore (``broker.p12``) signed by it in ``folder``, with keytool.

    The CA's own key stays in ``ca.p12``; a second call with another folder makes an unrelated CA (for testing a
    broker whose certificate the client does not trust)."""
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    ca_store, broker_store = folder / "ca.p12", folder / "broker.p12"
    ca_pem, csr, signed = folder / "ca.pem", folder / "broker.csr", folder / "broker.pem"
    san = "SAN=ip:127.0.0.1,dns:localhost"

    def keytool(*args: str) -> None:
        subprocess.run(["keytool", *args, "-storepass", password, "-noprompt"], check=True,  # noqa: S603, S607
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    keytool("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", "7",
            "-dname", "CN=scoreboard-test-ca", "-ext", "bc:c", "-keystore", str(ca_store), "-storetype", "PKCS12")
    keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-file", str(ca_pem))
    keytool("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "7",
            "-dname", "CN=localhost", "-ext", san, "-keystore", str(broker_store), "-storetype", "PKCS12")
    keytool("-certreq", "-alias", "broker", "-keystore", str(broker_store), "-file", str(csr))
    keytool("-gencert", "-alias", "ca", "-keystore", str(ca_store), "-infile", str(csr), "-outfile", str(signed),
            "-rfc", "-validity", "7", "-ext", san)
    keytool("-importcert", "-alias", "ca", "-file", str(ca_pem), "-keystore", str(broker_store))
    keytool("-importcert", "-alias", "broker", "-file", str(signed), "-keystore", str(broker_store))
    return Pki(ca_pem, broker_store, password)


@dataclass(frozen=True)
class SaslSsl:
    """The client listener of a secured :class:`LocalKafka`: ``SASL_SSL`` with ``pki``'s broker certificate, and
    ``users`` (name -> password) who may log in with SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN. The broker talks to
    itself (inter-broker, controller) over plaintext listeners of its own on 127.0.0.1."""

    pki: Pki
    users: Mapping[str, str]
    internal_port: int = field(default_factory=free_port)


class LocalKafka:
    """One KRaft broker+controller on 127.0.0.1, data in ``data_dir``; clients connect on ``port`` in plaintext, or
    with ``SASL_SSL`` when ``secure`` is given."""

    def __init__(self, data_dir: Path, port: int | None = None, controller_port: int | None = None,
                 heap: str = "768M", secure: SaslSsl | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.secure = secure
        self.proc: Supervisor | None = None
        self.log_path = self.data_dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listeners(self) -> dict[str, str]:
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        if self.secure is None:
            listeners = f"PLAINTEXT://127.0.0.1:{self.port},{controller}"
            return {"listeners": listeners, "advertised.listeners": listeners,
                    "inter.broker.listener.name": "PLAINTEXT",
                    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"}
        secure, pki = self.secure, self.secure.pki
        listeners = f"SASL_SSL://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{secure.internal_port},{controller}"
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in secure.users.items())
        return {
            "listeners": listeners, "advertised.listeners": listeners,
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PKCS12", "ssl.keystore.location": str(pki.keystore),
            "ssl.keystore.password": pki.password, "ssl.key.password": pki.password,
        }

    def _scram_users(self) -> list[str]:
        """``kafka-storage format`` arguments storing the SCRAM logins (KRaft keeps them in its metadata log)."""
        if self.secure is None:
            return []
        return [arg for name, password in self.secure.users.items()
                for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")]

    def _properties(self) -> Path:
        logs = self.data_dir / "log"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            **self._listeners(),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.backoff.ms": "1000",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java(self, *args: str, heap: str) -> list[str]:
        lib = ensure_jars()
        return ["java", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-Djava.awt.headless=true", f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
                f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{lib}/*", *args]

    def start(self, timeout: float = 90.0) -> LocalKafka:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        fmt = self._java("kafka.tools.StorageTool", "format", "--standalone", "-t", CLUSTER_ID,
                         "-c", str(props), "--ignore-formatted", *self._scram_users(), heap="256M")
        subprocess.run(fmt, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        # its own session: Ctrl-C reaches make run, which stops the broker after the services; and it dies with us
        self.proc = Supervisor(
            self._java("kafka.Kafka", str(props), heap=self.heap), env=os.environ, name="Kafka broker",
            log_path=self.log_path, ready_line=READY_LINE, ready_also=lambda: port_answers("127.0.0.1", self.port),
            cwd=Path.cwd(), die_with_parent=True,
        )
        self.proc.start(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            self.proc.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the broker: a crash, nothing flushed or handed over (``start`` again recovers the same data dir
        on the same ports, as after a SIGTERM ``stop``)."""
        if self.proc is not None:
            self.proc.kill()

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_local", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache")
    run = sub.add_parser("run", help="run a broker in the foreground until SIGINT/SIGTERM")
    run.add_argument("--data-dir", default=".data/kafka")
    run.add_argument("--port", type=int, default=9092)
    run.add_argument("--controller-port", type=int, default=9093)
    args = parser.parse_args(argv)
    if args.cmd == "fetch":  # silent when the jars are cached already
        ensure_jars()
        return 0
    broker = LocalKafka(Path(args.data_dir), args.port, args.controller_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    broker.start()
    print(f"kafka: ready on {broker.bootstrap} (data in {broker.data_dir})", flush=True)
    try:
        assert broker.proc is not None
        broker.proc.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
