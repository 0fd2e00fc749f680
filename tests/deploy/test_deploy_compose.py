"""docker-compose.kafka.yml is valid compose and agrees with the code: commands, env names, ports, volumes."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
from typing import Any

import jsonschema
import pytest

from schemas.catalog import ActionCatalog
from tests.deploy.support import (
    ALL_INTERFACES,
    COMPOSE_FILE,
    ROOT,
    compose,
    compose_env,
    env_names,
    field_default,
    project_scripts,
    service_settings,
)
from tools.kafka_local import KAFKA_VERSION

pytestmark = pytest.mark.deploy

OUR_SERVICES = ("topics", "worker", "api", "sse")
LONG_RUNNING = ("worker", "api", "sse")
# service -> (port env name, host-side port of `make run`)
PORTS = {"api": ("SCOREBOARD_API_PORT", 8000), "sse": ("SCOREBOARD_SSE_PORT", 8001),
         "worker": ("SCOREBOARD_WORKER_WEB_PORT", 6066)}


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30,
                          check=False).returncode == 0


def test_compose_file_is_valid_compose() -> None:
    """Validated against the Compose Specification schema (bundled by check-jsonschema); where the Docker
    client has its compose plugin, ``docker compose config`` must accept the file as well."""
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)
    assert set(OUR_SERVICES) | {"kafka"} == set(compose()["services"])
    if docker_compose_available():
        env = {**os.environ, "SCOREBOARD_API_KEYS": "compose-config-check",
               "SCOREBOARD_EVENT_ID_SECRET": "compose-config-check"}
        done = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_service_runs_a_project_script_from_our_image(name: str) -> None:
    svc = service(name)
    assert svc["command"][0] in project_scripts()
    assert svc["build"]["context"] == "." and (ROOT / svc["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_service_env_names_are_read_by_its_settings_class(name: str) -> None:
    unknown = set(compose_env(name)) - env_names(service_settings(name))
    assert not unknown, f"{name} sets names its settings never read: {sorted(unknown)}"


@pytest.mark.parametrize("name", list(PORTS))
def test_ports_match_make_run_and_the_settings_defaults(name: str) -> None:
    env_name, make_run_port = PORTS[name]
    default = field_default(name, env_name)
    assert default == make_run_port
    assert int(compose_env(name)[env_name]) == default
    assert service(name)["ports"] == [f"127.0.0.1:{default}:{default}"]


def test_services_listen_on_all_interfaces_inside_their_containers() -> None:
    assert compose_env("api")["SCOREBOARD_API_HOST"] == ALL_INTERFACES
    assert compose_env("sse")["SCOREBOARD_SSE_HOST"] == ALL_INTERFACES
    assert compose_env("worker")["SCOREBOARD_WORKER_WEB_HOST"] == ALL_INTERFACES


def test_kafka_is_the_tested_version_in_kraft_mode_and_reachable_from_the_host() -> None:
    kafka = service("kafka")
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    internal = compose_env("worker")["KAFKA_BOOTSTRAP_SERVERS"]
    assert f"INTERNAL://{internal}" in env["KAFKA_ADVERTISED_LISTENERS"]
    host_default = field_default("topics", "KAFKA_BOOTSTRAP_SERVERS")  # 127.0.0.1:9092: direct producers
    assert f"EXTERNAL://{host_default}" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka["ports"] == [f"{host_default}:{host_default.rsplit(':', 1)[1]}"]


def test_named_volumes_are_declared_used_and_mounted_where_the_data_lives() -> None:
    declared = set(compose()["volumes"])
    used: set[str] = set()
    for svc in compose()["services"].values():
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"bind-mounted {source} missing"
            else:
                used.add(source)
    assert used == declared
    assert "kafka-data:" + service("kafka")["environment"]["KAFKA_LOG_DIRS"] in service("kafka")["volumes"]
    assert "worker-state:" + compose_env("worker")["SCOREBOARD_DATA_DIR"] in service("worker")["volumes"]


def test_startup_order_waits_for_health_and_topic_creation() -> None:
    assert service("kafka")["healthcheck"]["test"]
    assert service("topics")["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert service("topics")["restart"] == "no"
    assert service("worker")["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
    for name in ("api", "sse"):
        assert service(name)["depends_on"]["worker"] == {"condition": "service_healthy"}
    for name in LONG_RUNNING:
        assert service(name)["healthcheck"]["test"] == ["CMD", "scoreboard-healthcheck", name]


def test_api_keys_and_the_event_id_secret_come_from_the_environment_and_are_required() -> None:
    for name in ("SCOREBOARD_API_KEYS", "SCOREBOARD_EVENT_ID_SECRET"):
        value = compose_env("api")[name]
        assert value.startswith(f"${{{name}:?"), value


def test_admin_keys_come_from_the_environment_and_are_optional() -> None:
    assert compose_env("api")["SCOREBOARD_ADMIN_KEYS"] == "${SCOREBOARD_ADMIN_KEYS:-}"


def test_catalog_mount_is_a_valid_catalog_at_the_configured_path() -> None:
    for name in OUR_SERVICES:
        if name == "topics":
            continue
        target = compose_env(name)["SCOREBOARD_ACTIONS_FILE"]
        mount = next(m for m in service(name)["volumes"] if m.split(":")[1] == target)
        assert ActionCatalog.load(ROOT / mount.split(":")[0]).as_dict()


def test_single_worker_keeps_no_standby_replicas() -> None:
    assert int(compose_env("worker")["SCOREBOARD_WORKER_STANDBY_REPLICAS"]) == 0
