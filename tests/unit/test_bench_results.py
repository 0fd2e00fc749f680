"""Repeated bench runs combined (``bench.results.combine``): each figure's median and spread, a target met only
when every run met it, and the table showing both."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import bench.__main__ as bench_main
from bench.context import SMOKE, Context
from bench.results import BenchResult, Row, combine, table

pytestmark = pytest.mark.unit


def _run(value: float, ref: float, met: bool) -> BenchResult:
    return BenchResult("w", "Worker", [Row("1 worker", "events/s", value, "ev/s", "bare", ref, "≥ 10", met),
                                       Row("1 worker", "startup", value / 1000, "s")], {"value": value})


def test_repeated_runs_give_the_median_the_spread_and_met_only_when_every_run_met() -> None:
    combined = combine([_run(100, 200, True), _run(300, 300, False), _run(200, 100, True)])
    events, startup = combined.rows
    assert events.value == 200 and events.spread == (100, 300) and events.ref_value == 200
    assert events.ratio == 1.0 and events.ratio_spread == (0.5, 2.0)  # the median of the runs' own ratios
    assert events.met is False
    assert startup.met is None and startup.value == 0.2
    assert combined.data == {"repeat": 3, "runs": [{"value": 100}, {"value": 300}, {"value": 200}],
                             "combined": True}
    line = table([combined]).splitlines()[2]
    assert "| 200 (100–300) |" in line and "| 1.00 (0.50–2.00) |" in line and "**no**" in line


def test_one_run_is_left_as_it_is_and_runs_of_another_shape_keep_the_last() -> None:
    single = _run(100, 200, True)
    assert combine([single]) is single
    other = BenchResult("w", "Worker", [Row("1 worker", "events/s", 5, "ev/s")], {})
    mixed = combine([single, other])
    assert mixed.rows == other.rows and mixed.data["combined"] is False


async def test_repeat_runs_a_bench_that_many_times_and_writes_the_combined_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = iter([30.0, 10.0, 20.0])

    async def fake(ctx: Context) -> BenchResult:
        return _run(next(values), 10, True)

    monkeypatch.setitem(bench_main.BENCHES, "fake", fake)
    ctx = Context("127.0.0.1:1", SMOKE, tmp_path, smoke=True)
    results, failed = await bench_main.run_all(ctx, ["fake"], tmp_path / "results", repeat=3)
    assert not failed and results[0].rows[0].value == 20 and results[0].rows[0].spread == (10, 30)
    written = orjson.loads((tmp_path / "results" / "w.json").read_bytes())
    assert written["data"]["repeat"] == 3 and written["rows"][0]["spread"] == [10, 30]


async def test_repeats_are_passes_over_every_bench_and_a_failing_bench_leaves_the_later_passes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    async def good(ctx: Context) -> BenchResult:
        order.append("good")
        return _run(10, 10, True)

    async def bad(ctx: Context) -> BenchResult:
        order.append("bad")
        raise RuntimeError("no figures")

    monkeypatch.setitem(bench_main.BENCHES, "good", good)
    monkeypatch.setitem(bench_main.BENCHES, "bad", bad)
    ctx = Context("127.0.0.1:1", SMOKE, tmp_path, smoke=True)
    results, failed = await bench_main.run_all(ctx, ["good", "bad"], tmp_path / "results", repeat=3)
    assert order == ["good", "bad", "good", "good"]  # one pass after the other; "bad" is not run again
    assert failed == ["bad"] and len(results) == 1 and results[0].data["repeat"] == 3


def test_a_repeated_step_search_starts_just_under_what_the_last_one_found(tmp_path: Path) -> None:
    ctx = Context("127.0.0.1:1", SMOKE, tmp_path, smoke=True)
    assert ctx.search_start("ingest 202", 500) == 500
    ctx.found["ingest 202"] = 4000.0
    assert ctx.search_start("ingest 202", 500) == 3200
    ctx.found["ingest 200"] = 0.0  # nothing passed last time: from the default again
    assert ctx.search_start("ingest 200", 500) == 500


def test_a_repeated_step_search_bisects_once_and_a_smoke_search_never(tmp_path: Path) -> None:
    full = Context("127.0.0.1:1", SMOKE, tmp_path, smoke=False)
    assert full.bisections("ingest 202") == 2
    full.found["ingest 202"] = 4000.0
    assert full.bisections("ingest 202") == 1
    full.found["ingest 200"] = 0.0  # nothing passed last time: searched from the default, bisected twice
    assert full.bisections("ingest 200") == 2
    assert Context("127.0.0.1:1", SMOKE, tmp_path, smoke=True).bisections("ingest 202") == 0


def test_a_step_search_keeps_the_lowest_figure_its_runs_found(tmp_path: Path) -> None:
    ctx = Context("127.0.0.1:1", SMOKE, tmp_path, smoke=False)
    ctx.record_found("users", 4000.0)
    ctx.record_found("users", 6000.0)  # a lucky run does not raise the next start
    assert ctx.search_start("users", 2000) == 3200
    ctx.record_found("users", 0.0)  # nothing passed: the last figure stays
    ctx.record_found("users", 3000.0)
    assert ctx.found["users"] == 3000.0
