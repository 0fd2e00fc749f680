"""Readers shared by the deployment checks: the settings classes' environment names, the compose file, the
rendered Kustomize overlays, the Dockerfile. Pure file reading plus ``kubectl kustomize`` (offline)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from schemas.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.kafka.yml"
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod", "prod-strimzi")
SETTINGS_MODULES = ("producer_api.settings", "stream_app.settings", "sse_server.settings")
# compose service / k8s workload -> (settings module, settings class) of the process it runs
SERVICE_SETTINGS = {
    "api": ("producer_api.settings", "ApiSettings"),
    "worker": ("stream_app.settings", "WorkerSettings"),
    "sse": ("sse_server.settings", "SseSettings"),
    "topics": ("schemas.settings", "CommonSettings"),
}
WORKLOADS = {"scoreboard-api": "api", "scoreboard-sse": "sse", "scoreboard-worker": "worker"}
STRIMZI_GROUP = "kafka.strimzi.io/"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (what containers must bind; compared, never bound)


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment name a settings class reads (its fields' ``validation_alias`` choices)."""
    names: set[str] = set()
    for field in cls.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
    return names


def settings_classes() -> dict[str, type[CommonSettings]]:
    """The settings classes that exist now: ``CommonSettings`` and every subclass in the service modules."""
    found: dict[str, type[CommonSettings]] = {"schemas.settings.CommonSettings": CommonSettings}
    for module_name in SETTINGS_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, CommonSettings) and value is not CommonSettings:
                found[f"{module_name}.{name}"] = value
    return found


def known_env_names() -> set[str]:
    return set().union(*(env_names(cls) for cls in settings_classes().values()))


def service_settings(service: str) -> type[CommonSettings]:
    module_name, class_name = SERVICE_SETTINGS[service]
    cls: type[CommonSettings] = getattr(importlib.import_module(module_name), class_name)
    return cls


def field_default(service: str, env_name: str) -> Any:
    """The default of the field that ``service``'s settings read from ``env_name``."""
    cls = service_settings(service)
    for field in cls.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and env_name in alias.choices:
            return field.default
    raise KeyError(f"{cls.__name__} has no field read from {env_name}")


def project_scripts() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        scripts: dict[str, str] = tomllib.load(f)["project"]["scripts"]
    return scripts


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_env(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment", {})
    return {str(k): str(v) for k, v in env.items()}


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise RuntimeError("kubectl is needed for `kubectl kustomize` (it is part of the machine image)")
    return path


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """``kubectl kustomize k8s/overlays/<overlay>`` (offline), parsed."""
    done = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kustomize build of {overlay} failed:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in render(overlay) if o["kind"] == kind}


def workload(overlay: str, name: str) -> dict[str, Any]:
    found = objects(overlay, "Deployment") | objects(overlay, "StatefulSet")
    return found[name]


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{obj['metadata']['name']}: one container expected"
    return containers[0]


def config_map(overlay: str, prefix: str) -> dict[str, str]:
    """Data of the (hash-suffixed) generated ConfigMap whose name starts with ``prefix``."""
    found = [o for name, o in objects(overlay, "ConfigMap").items() if name.startswith(prefix + "-")]
    assert len(found) == 1, f"{overlay}: one ConfigMap {prefix}-<hash> expected, found {len(found)}"
    data: dict[str, str] = found[0].get("data", {})
    return data


def container_env(overlay: str, name: str) -> dict[str, str]:
    """What the process sees: the ConfigMaps it loads with envFrom, then its own env (values or refs)."""
    ctr = container(workload(overlay, name))
    env: dict[str, str] = {}
    for source in ctr.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(next(o for n, o in objects(overlay, "ConfigMap").items() if n == ref).get("data", {}))
    for item in ctr.get("env", []):
        env[item["name"]] = item.get("value", "<from " + ",".join(item.get("valueFrom", {})) + ">")
    return env


def port_of(ctr: dict[str, Any], port: int | str) -> int:
    """A probe's port (number or container port name) as a number."""
    if isinstance(port, int):
        return port
    return next(int(p["containerPort"]) for p in ctr["ports"] if p.get("name") == port)


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            yield word.upper(), rest.strip()
