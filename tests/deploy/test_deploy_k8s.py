"""k8s/: every overlay builds, validates against the Kubernetes schemas offline, and agrees with the code."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from kubernetes_validate import utils as kv

from producer_api.app import create_app as create_api
from producer_api.settings import ApiSettings
from schemas.topics import TopicNames, contract_topics
from sse_server.app import create_app as create_sse
from sse_server.settings import SseSettings
from tests.deploy.support import (
    ALL_INTERFACES,
    K8S,
    OVERLAYS,
    ROOT,
    STRIMZI_GROUP,
    WORKLOADS,
    config_map,
    container,
    container_env,
    env_names,
    field_default,
    objects,
    port_of,
    project_scripts,
    render,
    service_settings,
    workload,
)
from tools.kafka_local import KAFKA_VERSION

pytestmark = pytest.mark.deploy

# Oldest Kubernetes minor we support and the newest whose schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.29.0", "1.37.0")
# No registry package ships the Strimzi CRD schemas: the io.strimzi:api jar on Maven Central holds only the Java
# model, io.strimzi:crd-generator is not published there, and no PyPI/npm package bundles them. These kinds are
# therefore not schema-validated; test_strimzi_* below checks them against the code instead.
SKIPPED_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic"}
STRIMZI_OVERLAYS = ("dev", "prod-strimzi")
PORT_ENV = {"api": "SCOREBOARD_API_PORT", "sse": "SCOREBOARD_SSE_PORT", "worker": "SCOREBOARD_WORKER_WEB_PORT"}


def route_paths(routes: Sequence[Any]) -> set[str]:
    """Paths of these routes, looking into included routers (FastAPI wraps them)."""
    paths: set[str] = set()
    for route in routes:
        if isinstance(path := getattr(route, "path", None), str):
            paths.add(path)
        for inner in (getattr(route, "original_router", None), getattr(route, "router", None)):
            if inner is not None and hasattr(inner, "routes"):
                paths |= route_paths(inner.routes)
    return paths


def app_paths(app: FastAPI) -> set[str]:
    return route_paths(app.routes) | set(app.openapi().get("paths", {}))


def routes(service: str) -> set[str]:
    """The HTTP paths the service really serves (its app built without a broker)."""
    if service == "api":
        return app_paths(create_api(ApiSettings(api_keys=("k",), env="dev", _env_file=None), with_broker=False))
    if service == "sse":
        return app_paths(create_sse(SseSettings(_env_file=None), tail_kafka=False))
    from stream_app.health import Readiness, create_health_app
    from stream_app.metrics import WorkerMetrics

    app = create_health_app(Readiness(None), WorkerMetrics().registry)
    return {resource.canonical for resource in app.router.resources()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_with_kustomize(overlay: str) -> None:
    kinds = {o["kind"] for o in render(overlay)}
    assert {"Deployment", "StatefulSet", "Service", "Ingress", "ConfigMap", "NetworkPolicy",
            "HorizontalPodAutoscaler", "PodDisruptionBudget", "Namespace"} <= kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_manifests_validate_against_the_kubernetes_schemas(overlay: str, version: str) -> None:
    validated = 0
    for obj in render(overlay):
        if obj["kind"] in SKIPPED_KINDS:
            assert obj["apiVersion"].startswith(STRIMZI_GROUP)
            continue
        kv.validate(obj, version, strict=True)  # raises on any schema error or unknown field
        validated += 1
    assert validated >= 20


def test_schema_validation_rejects_a_broken_manifest() -> None:
    """A green validation above means something: a misspelt field and a wrong type are both caught."""
    deployment = copy.deepcopy(workload("prod", "scoreboard-api"))
    container(deployment)["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(workload("prod", "scoreboard-api"))
    container(deployment)["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_run_project_scripts_with_env_names_their_settings_read(overlay: str) -> None:
    for name, service in WORKLOADS.items():
        assert container(workload(overlay, name))["args"][0] in project_scripts()
        unknown = set(container_env(overlay, name)) - env_names(service_settings(service))
        assert not unknown, f"{overlay}/{name}: names its settings never read: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_and_probes_match_the_code(overlay: str) -> None:
    for name, service in WORKLOADS.items():
        ctr = container(workload(overlay, name))
        env = container_env(overlay, name)
        port = field_default(service, PORT_ENV[service])
        assert int(env[PORT_ENV[service]]) == port
        assert [p["containerPort"] for p in ctr["ports"]] == [port]
        served = routes(service)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = ctr[probe]["httpGet"]
            assert port_of(ctr, get["port"]) == port, f"{name} {probe}"
            assert get["path"] in served, f"{name} {probe} {get['path']} is not a route"
        assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if service == "worker":
            assert env["SCOREBOARD_WORKER_WEB_ENABLED"] == "true"
            assert env["SCOREBOARD_WORKER_WEB_HOST"] == ALL_INTERFACES
        else:
            assert env[PORT_ENV[service].replace("_PORT", "_HOST")] == ALL_INTERFACES
        svc = objects(overlay, "Service")[name]
        assert svc["spec"]["selector"] == workload(overlay, name)["spec"]["selector"]["matchLabels"]
        assert [port_of(ctr, p["targetPort"]) for p in svc["spec"]["ports"]] == [port]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_the_metrics_routes(overlay: str) -> None:
    for name, service in WORKLOADS.items():
        pod = workload(overlay, name)["spec"]["template"]
        notes = pod["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert int(notes["prometheus.io/port"]) == field_default(service, PORT_ENV[service])
        assert notes["prometheus.io/path"] in routes(service)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_statefulset_fits_the_partitions_with_stable_state(overlay: str) -> None:
    sts = workload(overlay, "scoreboard-worker")
    env = container_env(overlay, "scoreboard-worker")
    replicas, partitions = sts["spec"]["replicas"], int(env["SCOREBOARD_PARTITIONS"])
    standbys = int(env["SCOREBOARD_WORKER_STANDBY_REPLICAS"])
    assert 1 <= replicas <= partitions
    assert standbys <= replicas - 1, "a standby copy must live on another worker"
    assert env["SCOREBOARD_WORKER_ID"], "one literal consumer group shared by every pod"
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container(sts)["volumeMounts"]}
    assert mounts[env["SCOREBOARD_DATA_DIR"]] in claims
    headless = objects(overlay, "Service")[sts["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_autoscale_on_cpu_and_every_workload_has_a_disruption_budget(overlay: str) -> None:
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in objects(overlay, "HorizontalPodAutoscaler").values()}
    assert set(hpas) == {"scoreboard-api", "scoreboard-sse"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in workload(overlay, name)["spec"], "the HPA owns the replica count"
    budgets = [p["spec"]["selector"]["matchLabels"] for p in objects(overlay, "PodDisruptionBudget").values()]
    for name in WORKLOADS:
        assert workload(overlay, name)["spec"]["selector"]["matchLabels"] in budgets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sse_pods_drain_before_they_stop(overlay: str) -> None:
    pod = workload(overlay, "scoreboard-sse")["spec"]["template"]["spec"]
    command = container({"spec": {"template": {"spec": pod}}})["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] >= int(command[1]) + 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_sends_writes_to_the_api_and_reads_to_sse_without_buffering(overlay: str) -> None:
    backends: dict[str, str] = {}
    for ingress in objects(overlay, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backends[path["path"]] = path["backend"]["service"]["name"]
    assert backends["/scores"] == backends["/actions"] == "scoreboard-api"
    assert backends["/leaderboard"] == backends["/"] == "scoreboard-sse"
    assert "/scores" in routes("api") and "/leaderboard/stream" in routes("sse")


def _ingress_backend(overlay: str, path: str) -> str | None:
    """Which service the Ingresses send ``path`` to (Kubernetes' Exact / element-wise Prefix matching, longest
    match first), or None."""
    best: tuple[int, str] | None = None
    for ingress in objects(overlay, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for entry in rule["http"]["paths"]:
                rule_path, kind = entry["path"], entry["pathType"]
                parts, given = [p for p in rule_path.split("/") if p], [p for p in path.split("/") if p]
                matched = path == rule_path if kind == "Exact" else given[:len(parts)] == parts
                if matched and (best is None or len(rule_path) > best[0]):
                    best = (len(rule_path), entry["backend"]["service"]["name"])
    return best[1] if best else None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_publishes_the_apis_and_the_page_but_no_metrics_or_health(overlay: str) -> None:
    public = {"/scores": "scoreboard-api", "/docs": "scoreboard-api", "/docs-assets/swagger-ui.css": "scoreboard-api",
              "/openapi.json": "scoreboard-api", "/leaderboard/users/u-1": "scoreboard-sse",
              "/leaderboard/stream": "scoreboard-sse", "/": "scoreboard-sse", "/app.js": "scoreboard-sse",
              "/page-config.json": "scoreboard-sse", "/favicon.svg": "scoreboard-sse", "/style.css": "scoreboard-sse"}
    assert {path: _ingress_backend(overlay, path) for path in public} == public
    for inside in ("/metrics", "/healthz", "/readyz"):
        assert _ingress_backend(overlay, inside) is None, inside
    notes = objects(overlay, "Ingress")["scoreboard-sse"]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_the_ingress_and_monitoring(overlay: str) -> None:
    policies = objects(overlay, "NetworkPolicy")
    deny = policies["scoreboard-default-deny-ingress"]
    assert deny["spec"]["podSelector"]["matchExpressions"][0]["values"] == list(WORKLOADS)
    assert "ingress" not in deny["spec"]
    for name, service in (("scoreboard-api", "api"), ("scoreboard-sse", "sse")):
        rules = policies[f"{name}-from-ingress"]["spec"]["ingress"]
        sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                   for rule in rules for peer in rule["from"]}
        assert sources == {"ingress-nginx", "monitoring"}
        assert [p["port"] for rule in rules for p in rule["ports"]] == [field_default(service, PORT_ENV[service])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_are_non_root_read_only_and_bounded(overlay: str) -> None:
    for name in WORKLOADS:
        pod = workload(overlay, name)["spec"]["template"]["spec"]
        ctr = container(workload(overlay, name))
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
        assert ctr["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert ctr["resources"]["requests"]["cpu"] and ctr["resources"]["limits"]["memory"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_keys_and_event_id_secret_come_from_a_secret_never_from_git_in_prod(overlay: str) -> None:
    env = container(workload(overlay, "scoreboard-api"))["env"]
    secrets = objects(overlay, "Secret")
    for name in ("SCOREBOARD_API_KEYS", "SCOREBOARD_EVENT_ID_SECRET"):
        ref = next(e for e in env if e["name"] == name)["valueFrom"]["secretKeyRef"]
        assert ref["key"] == name
        if overlay == "dev":
            assert name in secrets[ref["name"]]["data"]
        else:
            assert ref["name"] == "scoreboard-api-keys" and not secrets, "prod keys are created out of band"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_admin_keys_come_from_the_api_keys_secret_and_are_optional(overlay: str) -> None:
    env = container(workload(overlay, "scoreboard-api"))["env"]
    ref = next(e for e in env if e["name"] == "SCOREBOARD_ADMIN_KEYS")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": ref["name"], "key": "SCOREBOARD_ADMIN_KEYS", "optional": True}
    if overlay == "dev":
        assert "SCOREBOARD_ADMIN_KEYS" in objects(overlay, "Secret")[ref["name"]]["data"]
    else:
        assert ref["name"] == "scoreboard-api-keys"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_catalog_configmap_is_mounted_where_the_settings_look(overlay: str) -> None:
    for name in WORKLOADS:
        path = container_env(overlay, name)["SCOREBOARD_ACTIONS_FILE"]
        mounts = {m["name"]: m["mountPath"] for m in container(workload(overlay, name))["volumeMounts"]}
        assert f"{mounts['actions']}/actions.yaml" == path
    data = config_map(overlay, "scoreboard-actions")
    assert data["actions.yaml"] == (ROOT / "deploy" / "actions.yaml").read_text()


def test_prod_talks_to_an_existing_kafka_and_ships_no_strimzi_resources() -> None:
    assert not [o for o in render("prod") if o["apiVersion"].startswith(STRIMZI_GROUP)]
    bootstrap = config_map("prod", "scoreboard-config")["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap and "scoreboard-kafka" not in bootstrap


@pytest.mark.parametrize("overlay", STRIMZI_OVERLAYS)
def test_strimzi_cluster_runs_the_tested_kafka_and_is_the_bootstrap(overlay: str) -> None:
    (name, kafka), = objects(overlay, "Kafka").items()
    assert str(kafka["spec"]["kafka"]["version"]) == KAFKA_VERSION
    plain = next(lis for lis in kafka["spec"]["kafka"]["listeners"] if not lis["tls"])
    bootstrap = config_map(overlay, "scoreboard-config")["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap == f"{name}-kafka-bootstrap:{plain['port']}"
    peers = plain["networkPolicyPeers"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert peers == list(WORKLOADS), "only the Scoreboard processes reach Kafka"
    pools = objects(overlay, "KafkaNodePool").values()
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == name for p in pools)
    assert any({"broker", "controller"} <= set(p["spec"]["roles"]) for p in pools)


@pytest.mark.parametrize("overlay", STRIMZI_OVERLAYS)
def test_strimzi_topics_match_the_contract_topics(overlay: str) -> None:
    config = config_map(overlay, "scoreboard-config")
    expected = contract_topics(TopicNames.with_prefix(config["SCOREBOARD_TOPIC_PREFIX"]),
                               int(config["SCOREBOARD_PARTITIONS"]), int(config["SCOREBOARD_AUDIT_RETENTION_MS"]))
    topics = {t["spec"]["topicName"]: t for t in objects(overlay, "KafkaTopic").values()}
    assert set(topics) == {spec.name for spec in expected}
    (cluster,) = objects(overlay, "Kafka")
    nodes = sum(p["spec"]["replicas"] for p in objects(overlay, "KafkaNodePool").values())
    for spec in expected:
        topic: dict[str, Any] = topics[spec.name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["spec"]["partitions"] == spec.partitions
        assert {k: str(v) for k, v in topic["spec"]["config"].items()} == spec.config
        assert 1 <= topic["spec"]["replicas"] <= nodes


def test_every_overlay_directory_is_checked() -> None:
    assert {p.name for p in (K8S / "overlays").iterdir() if p.is_dir()} == set(OVERLAYS)
