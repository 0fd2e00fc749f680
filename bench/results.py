"""Bench results: rows of the printed table, and one JSON file per bench in ``bench/results/``.

A row is one figure beside its reference measured in the same run (``ratio`` = value / reference, oriented so
that higher is better for throughputs), and the target it is judged against. ``--repeat N`` runs a bench N times
and :func:`combine` makes one row of each figure's runs: the median, with the lowest and highest beside it, and
"met" only when every run met the target.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    bench: str
    figure: str
    value: float | None
    unit: str
    reference: str = ""
    ref_value: float | None = None
    target: str = ""
    met: bool | None = None
    spread: tuple[float, float] | None = None  # lowest and highest value over repeated runs
    ratio_spread: tuple[float, float] | None = None
    ratios: tuple[float, ...] = ()  # repeated runs: each run's ratio (their median is ``ratio``)

    @property
    def ratio(self) -> float | None:
        if self.ratios:
            return statistics.median(self.ratios)
        if self.value is None or not self.ref_value:
            return None
        return self.value / self.ref_value


@dataclass
class BenchResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self, smoke: bool) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "smoke": smoke, "machine": machine(),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "rows": [{**asdict(r), "ratio": r.ratio} for r in self.rows], "data": self.data}


def combine(runs: list[BenchResult]) -> BenchResult:
    """One result from repeated runs of a bench: each row's median and spread (rows matched by position; a run
    whose rows differ in number or bench, e.g. a fan-out that stopped at another count, keeps the last run's rows)
    and every run's data under ``runs``."""
    last = runs[-1]
    if len(runs) == 1:
        return last
    data = {"repeat": len(runs), "runs": [run.data for run in runs]}
    shapes = {tuple(row.bench for row in run.rows) for run in runs}
    if len(shapes) != 1:
        return BenchResult(last.name, last.title, last.rows, {**data, "combined": False})
    rows = []
    for position, row in enumerate(last.rows):
        same = [run.rows[position] for run in runs]
        values = [r.value for r in same if r.value is not None]
        refs = [r.ref_value for r in same if r.ref_value is not None]
        ratios = tuple(ratio for r in same if (ratio := r.ratio) is not None)
        met = None if any(r.met is None for r in same) else all(r.met for r in same)
        rows.append(Row(row.bench, row.figure, statistics.median(values) if len(values) == len(same) else None,
                        row.unit, row.reference, statistics.median(refs) if refs else None, row.target, met,
                        (min(values), max(values)) if values else None,
                        (min(ratios), max(ratios)) if ratios else None, ratios))
    return BenchResult(last.name, last.title, rows, {**data, "combined": True})


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "loadavg_1m": os.getloadavg()[0]}


def write(result: BenchResult, smoke: bool, directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.json"
    path.write_bytes(orjson.dumps(result.to_json(smoke), option=orjson.OPT_INDENT_2))
    return path


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ratio" or abs(value) < 10:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _spread(spread: tuple[float, float] | None, unit: str = "") -> str:
    return "" if spread is None else f" ({_fmt(spread[0], unit)}–{_fmt(spread[1], unit)})"


def table(results: list[BenchResult]) -> str:
    """A Markdown table (it reads well in a terminal and pastes into docs/performance.md)."""
    head = ["bench", "figure", "value", "reference", "ref. value", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        for r in result.rows:
            met = "-" if r.met is None else ("yes" if r.met else "**no**")
            cells = [r.bench, f"{r.figure} ({r.unit})", _fmt(r.value) + _spread(r.spread), r.reference or "-",
                     _fmt(r.ref_value), _fmt(r.ratio, "ratio") + _spread(r.ratio_spread, "ratio"), r.target or "-",
                     met]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
