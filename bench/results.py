"""Bench results: rows of the printed table, and one JSON file per bench in ``bench/results/``.

A row is one figure beside its reference measured in the same run (``ratio`` = value / reference, oriented so
that higher is better for throughputs), and the target of issue 5 it is judged against.
"""

from __future__ import annotations

import os
import platform
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

    @property
    def ratio(self) -> float | None:
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


def table(results: list[BenchResult]) -> str:
    """A Markdown table (it reads well in a terminal and pastes into docs/performance.md)."""
    head = ["bench", "figure", "value", "reference", "ref. value", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        for r in result.rows:
            met = "-" if r.met is None else ("yes" if r.met else "**no**")
            cells = [r.bench, f"{r.figure} ({r.unit})", _fmt(r.value), r.reference or "-", _fmt(r.ref_value),
                     _fmt(r.ratio, "ratio"), r.target or "-", met]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
