"""deploy/grafana/scoreboard.json: a dashboard for the three services that reads only metrics they expose.

Every metric name in every panel's PromQL must be a series of the real registries (``ApiMetrics``, ``SseMetrics``,
``WorkerMetrics``: what each service's ``/metrics`` serves), taking the suffixes of each metric's type into account
(a counter is ``_total``, a histogram ``_bucket``/``_sum``/``_count``): a renamed metric breaks this test, not a
panel nobody looks at.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from producer_api.metrics import ApiMetrics
from sse_server.metrics import SseMetrics
from stream_app.metrics import WorkerMetrics
from tests.deploy.support import ROOT

pytestmark = pytest.mark.deploy

DASHBOARD = ROOT / "deploy" / "grafana" / "scoreboard.json"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "info": ("_info",), "unknown": ("",)}
# PromQL words that are not metric names (functions are recognised by the parenthesis after them)
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def exposed(registry: CollectorRegistry) -> set[str]:
    """The series names a registry exposes, with the suffixes of each metric's type."""
    return {family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]}


def services() -> dict[str, set[str]]:
    return {"worker": exposed(WorkerMetrics().registry), "api": exposed(ApiMetrics().registry),
            "sse": exposed(SseMetrics().registry)}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers left once strings, label matchers, grouping
    clauses, ranges, variables and function calls are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\$\w+", "", expr)  # dashboard variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        if match.group(2) is None and match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names


def panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(panels(panel))  # panels inside collapsed rows
    return found


def expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in panels(dashboard) for target in panel.get("targets", [])]


def test_the_metric_name_extraction_sees_through_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, route) (rate(my_seconds_bucket{route!="x",code=~"5.."}'
            '[$__rate_interval]))) / on (instance) group_left sum(up) > 0 and other_metric offset 5m')
    assert metric_names(expr) == {"my_seconds_bucket", "up", "other_metric"}


def test_every_metric_in_the_dashboard_exists_on_a_service() -> None:
    known = set().union(*services().values())
    missing = {(title, name) for title, expr in expressions() for name in metric_names(expr) if name not in known}
    assert missing == set()


def test_the_dashboard_covers_each_service_and_the_processes() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions()))
    for service, names in services().items():
        own = {name for name in names if name.startswith(f"scoreboard_{service}_")}
        assert used & own, f"no panel reads a {service} metric"
    assert {
        "scoreboard_worker_events_total", "scoreboard_worker_dead_letters_total",
        "scoreboard_worker_apply_duration_seconds_bucket", "scoreboard_worker_batch_size_bucket",
        "scoreboard_worker_consumer_lag", "scoreboard_worker_board_emissions_total",
        "scoreboard_api_requests_total", "scoreboard_api_request_duration_seconds_bucket",
        "scoreboard_sse_clients", "scoreboard_sse_events_sent_total", "scoreboard_sse_consumer_lag",
        "process_cpu_seconds_total", "process_resident_memory_bytes",
    } <= used


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "scoreboard" and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))  # Grafana keys panels by id
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and "datasource" in variables
        for target in panel["targets"]:
            assert target["expr"] and target["refId"]
            for variable in re.findall(r"\$(\w+)", target["expr"]):
                assert variable.startswith("__") or variable in variables, (panel["title"], variable)
