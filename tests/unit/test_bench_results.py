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
