"""``make run``'s console: our INFO lines and libraries' warnings, whole records (tracebacks, tables) kept together;
the ready banner; the Kafka download's progress parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.kafka_local import downloaded_mb
from tools.run_stack import ConsoleFilter, banner

pytestmark = pytest.mark.unit

T = "2026-12-01 04:29:20,215"


def test_our_info_and_library_warnings_are_shown_library_info_is_not() -> None:
    console = ConsoleFilter()
    assert console.show(f"{T} INFO stream_app: worker: ready (partitions assigned, tables recovered)")
    assert console.show(f"{T} INFO producer_api.access: POST /scores 200 7.1ms")
    assert not console.show(f"{T} DEBUG stream_app.ranking: details")
    assert not console.show(f"{T} INFO aiokafka.consumer.subscription_state: Updating subscribed topics to: x")
    assert not console.show(f"{T} INFO uvicorn.error: Started server process [10524]")
    assert console.show(f"{T} WARNING aiokafka.consumer.group_coordinator: Heartbeat failed")
    assert console.show(f"{T} ERROR faust.transport: boom")


def test_mode_service_life_cycle_lines_are_chatter_even_from_our_modules() -> None:
    assert not ConsoleFilter().show(f"{T} INFO stream_app.faust_internals.batch_consumer: [^--BatchConsumer]: "
                                    "Starting...")


def test_continuation_lines_follow_their_record() -> None:
    console = ConsoleFilter()
    assert not console.show(f"{T} INFO faust.tables.recovery: [^---Recovery]: Highwater for active changelog:")
    assert not console.show("+Highwater - Active----------------------+-----------+")
    assert console.show(f"{T} ERROR stream_app.emitter: coalesced run for None failed")
    assert console.show("Traceback (most recent call last):")
    assert console.show('  File "stream_app/emitter.py", line 66, in run')


def test_a_line_before_any_record_is_shown() -> None:
    assert ConsoleFilter().show("stream_app: configuration error: SCOREBOARD_TOP_K: must be positive")


def test_the_banner_has_the_urls_the_key_and_the_export_line(tmp_path: Path) -> None:
    lines = banner("http://127.0.0.1:8000", "http://127.0.0.1:8001", "dev-abc  (a dev key)", "export KEY=dev-abc",
                   tmp_path, 12.3, tmp_path / "kafka" / "broker.log")
    text = "\n".join(lines)
    assert lines[0].startswith("ready: in 12s")
    for part in ("http://127.0.0.1:8000/docs", "http://127.0.0.1:8001/", "dev-abc", "export KEY=dev-abc",
                 str(tmp_path / "stack.log"), str(tmp_path / "kafka" / "broker.log")):
        assert part in text
    assert "broker.log" not in "\n".join(banner("a", "b", "c", "d", tmp_path, 1.0))  # on a broker not ours


def test_the_banner_shows_the_admin_key_when_given(tmp_path: Path) -> None:
    lines = banner("a", "b", "c", "d", tmp_path, 1.0, admin_line="dev-admin-xyz  (X-ADMIN-KEY ...)")
    assert "  admin key    dev-admin-xyz  (X-ADMIN-KEY ...)" in lines
    assert not any("admin key" in line for line in banner("a", "b", "c", "d", tmp_path, 1.0))


@pytest.mark.parametrize(("line", "mb"), [
    ("[INFO] Downloaded from central: https://repo.maven.apache.org/x/kafka_2.13-4.1.1.jar (6.6 MB at 9.1 MB/s)",
     6.6),
    ("[INFO] Downloaded from central: https://repo.maven.apache.org/x/a.pom (3.9 kB at 11 kB/s)", 0.0039),
    ("Downloaded from central: https://repo.maven.apache.org/x/b.sha1 (40 B at 1 kB/s)", 0.00004),
    ("[INFO] Downloading from central: https://repo.maven.apache.org/x/a.pom", 0.0),
    ("[INFO] BUILD SUCCESS", 0.0),
])
def test_maven_download_sizes_are_read(line: str, mb: float) -> None:
    assert downloaded_mb(line) == pytest.approx(mb)
