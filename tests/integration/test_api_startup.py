"""Starting ``python -m producer_api``: refusals with exit code 2 and a clear line, and dev mode without keys."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from schemas.topics import TopicNames
from tests.fixtures.kafka import Topics
from tests.fixtures.services import base_env
from tools.supervisor import ROOT, Supervisor

pytestmark = pytest.mark.integration

StartApi = Callable[..., tuple[Supervisor, str]]
MakeTopics = Callable[..., Awaitable[Topics]]
NO_TOPICS = Topics("unused-", TopicNames.with_prefix("unused-"), 1)  # the process stops before using Kafka


def run_api(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "producer_api"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_refuses_to_start_without_keys_outside_dev(bootstrap: str) -> None:
    env = base_env(bootstrap, NO_TOPICS, SCOREBOARD_ENV="prod")
    result = run_api(env)
    assert result.returncode == 2
    assert "SCOREBOARD_API_KEYS must be set outside dev mode (SCOREBOARD_ENV=dev)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_with_a_bad_catalog(bootstrap: str, tmp_path: Path) -> None:
    catalog = tmp_path / "actions.yaml"
    catalog.write_text("win_match: lots\n")
    env = base_env(bootstrap, NO_TOPICS, SCOREBOARD_API_KEYS="k", SCOREBOARD_ACTIONS_FILE=str(catalog))
    result = run_api(env)
    assert result.returncode == 2
    assert f"action catalog {catalog} is invalid" in result.stderr and "win_match" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_refuses_to_start_with_a_missing_catalog(bootstrap: str, tmp_path: Path) -> None:
    env = base_env(bootstrap, NO_TOPICS, SCOREBOARD_API_KEYS="k",
                   SCOREBOARD_ACTIONS_FILE=str(tmp_path / "missing.yaml"))
    result = run_api(env)
    assert result.returncode == 2
    assert "cannot read action catalog" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_setting_is_named_and_its_value_not_echoed(bootstrap: str) -> None:
    env = base_env(bootstrap, NO_TOPICS, SCOREBOARD_API_KEYS="k", SCOREBOARD_API_PORT="port-eighty")
    result = run_api(env)
    assert result.returncode == 2
    assert "SCOREBOARD_API_PORT" in result.stderr and "port-eighty" not in result.stderr


async def test_dev_mode_without_keys_starts_warns_and_answers_401(
    make_topics: MakeTopics, start_api: StartApi
) -> None:
    topics = await make_topics()
    process, url = start_api(topics, api_keys="")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        response = await client.post("/scores", content=b'{"user_id": "u", "action_id": "win_match"}',
                                      headers={"content-type": "application/json", "x-api-key": "anything"})
    assert response.status_code == 401
    assert "every POST /scores and GET /actions will be 401" in process.output()


@pytest.mark.parametrize(("module", "setting", "value"), [
    ("sse_server", "SCOREBOARD_PAGE_ACCENT", "red;}body{display:none"),
    ("sse_server", "SCOREBOARD_SSE_PORT", "bogus"),
    ("stream_app", "SCOREBOARD_PERIOD_GRACE_S", "bogus"),
])
def test_every_service_names_a_bad_setting_without_a_traceback(bootstrap: str, module: str, setting: str,
                                                              value: str) -> None:
    env = base_env(bootstrap, NO_TOPICS, **{setting: value})
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"{module}: invalid settings: {setting}" in done.stderr and "Traceback" not in done.stderr
