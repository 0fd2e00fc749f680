"""Refused starts (exit code 2 and one clear line, no traceback) of every service, with no broker at all.

Why a tier of its own: a process that refuses its settings or its catalog exits before it connects, so these tests
point it at a port nobody listens on instead of the session broker; should a refusal regress, the process tries
that port and the test fails on its timeout rather than passing against a real broker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemas.topics import TopicNames
from tests.fixtures.kafka import Topics
from tests.fixtures.services import base_env
from tools.kafka_local import free_port
from tools.supervisor import ROOT

pytestmark = pytest.mark.process

NO_TOPICS = Topics("unused-", TopicNames.with_prefix("unused-"), 1)  # the process stops before using Kafka


def no_broker_env(**settings: str) -> dict[str, str]:
    """A service's environment whose bootstrap address is a free port: nothing answers there."""
    return base_env(f"127.0.0.1:{free_port()}", NO_TOPICS, **settings)


def run(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_refuses_to_start_without_keys_outside_dev() -> None:
    result = run("producer_api", no_broker_env(SCOREBOARD_ENV="prod"))
    assert result.returncode == 2
    assert "SCOREBOARD_API_KEYS must be set outside dev mode (SCOREBOARD_ENV=dev)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_with_a_bad_catalog(tmp_path: Path) -> None:
    catalog = tmp_path / "actions.yaml"
    catalog.write_text("win_match: lots\n")
    result = run("producer_api", no_broker_env(SCOREBOARD_API_KEYS="k", SCOREBOARD_ACTIONS_FILE=str(catalog)))
    assert result.returncode == 2
    assert f"action catalog {catalog} is invalid" in result.stderr and "win_match" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_with_a_missing_catalog(tmp_path: Path) -> None:
    result = run("producer_api", no_broker_env(SCOREBOARD_API_KEYS="k",
                                               SCOREBOARD_ACTIONS_FILE=str(tmp_path / "missing.yaml")))
    assert result.returncode == 2
    assert "cannot read action catalog" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("boards", "words"), [
    ("fastest-lap: {aggregation: fastest}\n", "board 'fastest-lap': aggregation: Input should be 'sum', 'max', "),
    ("eu: {timezone: Europe/Atlantis}\n", "board 'eu': timezone: 'Europe/Atlantis' is not an IANA"),
    ("speed: {actions: [fly_to_moon]}\n", "board 'speed': actions: 'fly_to_moon' is not in the action catalog"),
    ("Speed: {}\n", "board id 'Speed' must match [a-z0-9-]{1,64}"),
])
def test_refuses_to_start_with_an_invalid_boards_file_naming_board_and_field(
    tmp_path: Path, boards: str, words: str,
) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(boards)
    result = run("producer_api", no_broker_env(SCOREBOARD_API_KEYS="k", SCOREBOARD_BOARDS_FILE=str(path)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"producer_api: boards file {path}: {words}"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_with_a_missing_boards_file(tmp_path: Path) -> None:
    result = run("producer_api", no_broker_env(SCOREBOARD_API_KEYS="k",
                                               SCOREBOARD_BOARDS_FILE=str(tmp_path / "missing.yaml")))
    assert result.returncode == 2
    assert f"producer_api: cannot read boards file {tmp_path / 'missing.yaml'}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_setting_is_named_and_its_value_not_echoed() -> None:
    result = run("producer_api", no_broker_env(SCOREBOARD_API_KEYS="k", SCOREBOARD_API_PORT="port-eighty"))
    assert result.returncode == 2
    assert "SCOREBOARD_API_PORT" in result.stderr and "port-eighty" not in result.stderr


@pytest.mark.parametrize(("module", "setting", "value"), [
    ("sse_server", "SCOREBOARD_PAGE_ACCENT", "red;}body{display:none"),
    ("sse_server", "SCOREBOARD_SSE_PORT", "bogus"),
    ("stream_app", "SCOREBOARD_PERIOD_GRACE_S", "bogus"),
])
def test_every_service_names_a_bad_setting_without_a_traceback(module: str, setting: str, value: str) -> None:
    done = run(module, no_broker_env(**{setting: value}))
    assert done.returncode == 2
    assert f"{module}: invalid settings: {setting}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("boards", "reason"), [
    ("wins:\n  actions: [no_such_action]\n", "board 'wins': actions: 'no_such_action' is not in the action catalog"),
    ("wins:\n  timezone: Mars/Olympus\n", "board 'wins': timezone:"),
    ("wins:\n  windows: [hourly]\n", "board 'wins': windows.0:"),
])
def test_the_read_api_refuses_to_start_with_an_invalid_boards_file(tmp_path: Path, boards: str, reason: str) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(boards)
    done = run("sse_server", no_broker_env(SCOREBOARD_BOARDS_FILE=str(path)))
    assert done.returncode == 2
    assert f"sse_server: configuration error: boards file {path}: {reason}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_the_read_api_refuses_to_start_without_its_boards_file(tmp_path: Path) -> None:
    done = run("sse_server", no_broker_env(SCOREBOARD_BOARDS_FILE=str(tmp_path / "missing.yaml")))
    assert done.returncode == 2
    assert "sse_server: configuration error: cannot read boards file" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
