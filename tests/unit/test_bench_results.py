"""Repeated bench runs combined (``bench.results.combine``): each figure's median and spread, a target met only
when every run met it, and the table showing both."""

from __future__ import annotations

import pytest

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
