"""The bench code cannot rot: ``python -m bench --smoke`` runs against the session broker and produces figures.

Tiny sizes, seconds per bench; these tests check that every figure is there and sane (positive, keys
present), never how fast anything is — speed is ``make bench``'s business, on a quiet machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(bootstrap: str, results: Path, *only: str) -> dict[str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "KAFKA_"))}
    args = [sys.executable, "-m", "bench", "--smoke", "--bootstrap", bootstrap, "--results-dir", str(results)]
    for name in only:
        args += ["--only", name]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, f"bench smoke failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "| bench | figure |" in proc.stdout  # the table is printed
    out = {}
    for name in only:
        data = json.loads((results / f"{name}.json").read_text())
        assert data["smoke"] is True and data["rows"], data
        out[name] = data
    return out


def rows_by_figure(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["figure"]: row for row in result["rows"]}


def test_bench_smoke_worker_and_redis_produce_figures(bootstrap: str, tmp_path: Path) -> None:
    results = run_smoke(bootstrap, tmp_path, "worker", "redis")

    worker = results["worker"]
    rows = rows_by_figure(worker)
    applied = rows["events/s applied (score-applied)"]
    assert applied["value"] > 0 and applied["ref_value"] > 0 and applied["ratio"] > 0
    boards = rows["events/s to all boards updated"]
    assert boards["value"] > 0 and boards["ratio"] > 0
    data = worker["data"]
    assert data["boards_final"] and data["last_board_top5"] == data["expected_top5"]
    assert data["bare_consumer"]["records"] == data["events"]
    # tiny sizes: the worker may apply everything in its first fetch, before its /readyz answers 200 (CPU after it ~0)
    assert data["worker_startup_s"] > 0 and data["applied_s"] > 0 and data["worker_cpu_cores"] >= 0
    assert data["worker_cpu_s"] >= 0 and (data["events_per_cpu_s"] is None or data["events_per_cpu_s"] > 0)
    assert "events per CPU-second of the worker process (ready to the final board)" in rows
    assert sum(data["applied_per_second"]) >= data["events"]

    redis = results["redis"]
    data = redis["data"]
    assert data["redis_ingest"]["best_rate"] > 0 and data["redis_ingest"]["steps"]
    assert all(step["statuses"] for step in data["redis_ingest"]["steps"])
    e2e = data["redis_e2e"]
    assert e2e["connected"] == e2e["clients"] > 0
    assert 0 < e2e["p50_ms"] <= e2e["p99_ms"] <= e2e["max_ms"]
    assert e2e["delivered"] > 0.9 and e2e["events_never_seen"] == 0


def test_bench_smoke_fanout_and_flood_produce_figures(bootstrap: str, tmp_path: Path) -> None:
    results = run_smoke(bootstrap, tmp_path, "fanout", "flood")
    fanout, flood = results["fanout"], results["flood"]["data"]
    for wave in (flood["first"], flood["second"]):
        assert wave["connected"] == flood["clients"] > 0
        assert flood["rss_before_kb"] > 0 and wave["rss_connected_kb"] > 0 and wave["rss_settled_kb"] > 0
    steps = fanout["data"]["steps"]
    assert steps and all(s["connected"] == s["clients"] > 0 for s in steps)
    for step in steps:
        assert step["rss_connected_kb"] > 0 and step["updates"] > 0
        assert step["samples"] > 0 and 0 < step["p50_ms"] <= step["max_ms"]
    assert "RSS per client" in " ".join(rows_by_figure(fanout))


def test_bench_smoke_read_your_writes_produces_figures_for_both_designs(bootstrap: str, tmp_path: Path) -> None:
    ryw = run_smoke(bootstrap, tmp_path, "ryw")["ryw"]
    for design in ("scoreboard", "redis"):
        for phase in ("idle", "load"):
            figures = ryw["data"][design][phase]
            assert figures["probes"] > 0
            for read in ("get", "stream"):
                assert 0 <= figures[read]["p50_ms"] <= figures[read]["p99_ms"], (design, phase, read)
    assert len(ryw["rows"]) == 8 and all(row["value"] is not None for row in ryw["rows"])


def test_bench_smoke_consumer_runs_both_ways(bootstrap: str, tmp_path: Path) -> None:
    consumer = run_smoke(bootstrap, tmp_path, "consumer")["consumer"]
    runs = consumer["data"]["runs"]
    assert {run["mode"] for run in runs} == {"same-loop", "thread"}
    assert all(run["delivered"] == 1.0 and run["p50_ms"] is not None for run in runs)


def test_bench_smoke_standings_produces_figures_for_both_designs(bootstrap: str, tmp_path: Path) -> None:
    standings = run_smoke(bootstrap, tmp_path, "standings")["standings"]
    data = standings["data"]
    assert data["seed"]["records"] == data["users"] > 0
    ours = data["ours"]
    # figures, not their relation: at 300 users the index is smaller than the noise of the process's RSS
    assert ours["startup_s"] > 0 and ours["rss_after_catch_up_kb"] > 0 and ours["rss_empty_kb"] > 0
    assert data["redis_seed"]["bytes_per_user_board"] > 0 and data["redis_restart"]["seconds"] > 0
    for search in ("users_ours", "users_redis", "around_ours", "around_redis"):
        steps = data[search]["steps"]
        assert steps and all(step["statuses"].get("200") for step in steps), search
    assert data["flow"]["sent"] > 0
    personal = data["personal"]
    assert personal["personal_connected"] == personal["plain_connected"] == personal["clients"] > 0
    assert personal["changes"] > 0 and personal["samples"] > 0 and personal["unexpected"] == 0
    assert 0 < personal["p50_ms"] <= personal["p99_ms"]
    for kind in ("plain", "personal"):
        assert data[f"client_rss_{kind}"]["clients"] == personal["clients"], kind
    assert len(standings["rows"]) == 6 and all(row["value"] is not None for row in standings["rows"])


def test_bench_smoke_boards_runs_one_and_six_boards_on_the_same_events(bootstrap: str, tmp_path: Path) -> None:
    boards = run_smoke(bootstrap, tmp_path, "boards")["boards"]
    rows = rows_by_figure(boards)
    six = rows["events/s applied"]  # the last row of that name: 6 boards against 1
    assert six["value"] > 0 and six["ref_value"] > 0 and six["ratio"] > 0
    data = boards["data"]
    assert data["one_board"]["global_board_final"] and data["six_boards"]["global_board_final"]
    assert data["bare_consumer"]["records"] == data["events"]


def test_bench_smoke_kstreams_runs_both_systems_on_the_same_events(bootstrap: str, tmp_path: Path) -> None:
    # the baseline's jars are built by `make bench-deps` (a prerequisite of `make test`); built here otherwise
    result = run_smoke(bootstrap, tmp_path, "kstreams")["kstreams"]
    data = result["data"]
    assert data["build"]["how"] in {"up to date", "offline", "online"}
    for label in ("ours", "kstreams"):
        figures = data[label]
        assert figures["startup_s"] > 0 and figures["events_per_s"] > 0 and figures["boards_received"] > 0, label
        latency = figures["latency"]
        assert latency["delivered"] == 1.0 and latency["caught_up"], label
        assert 0 <= latency["p50_ms"] <= latency["p99_ms"], label
    # tiny sizes: our worker may work off the backlog before its /readyz answers (CPU after it ~0); the JVM may not
    assert data["kstreams"]["events_per_cpu_s"] > 0 and data["kstreams"]["events"] > data["events"]
    assert len(result["rows"]) == 7 and result["rows"][0]["figure"].startswith("events per CPU-second")


def test_bench_smoke_e2e_times_a_kafka_hop_an_idle_phase_and_a_loaded_one(bootstrap: str, tmp_path: Path) -> None:
    data = run_smoke(bootstrap, tmp_path, "e2e")["e2e"]
    figures = data["data"]
    hop = figures["kafka_hop"]
    assert hop["samples"] > 0 and 0 < hop["p50_ms"] <= hop["p99_ms"] <= hop["max_ms"]
    assert figures["idle_one_client"]["clients"] == 1
    for phase in ("idle_one_client", "idle", "scoreboard"):
        timed = figures[phase]
        assert timed["connected"] == timed["clients"] > 0
        assert 0 < timed["p50_ms"] <= timed["p99_ms"] <= timed["max_ms"]
        assert timed["events_never_seen"] == 0
    assert figures["idle"]["load"]["offered"] == figures["idle_rate"] < figures["rate"]
    assert {row["target"] for row in data["rows"]} >= {"≤ 20 ms", "≤ 50 ms", "≤ 300 ms", "≤ 3"}
