"""ARCHITECTURE.md's code map names every module of every package (and nothing that is gone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "producer_api", "stream_app", "sse_server", "tools", "bench")


def code_map() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+)/` \| (.+) \|$", (ROOT / "ARCHITECTURE.md").read_text(), re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_in_the_code_map_and_every_named_module_exists(package: str) -> None:
    row = code_map()[package]
    modules = {str(p.relative_to(ROOT / package)) for p in (ROOT / package).rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    named = {n for n in re.findall(r"`([\w/]+\.py)`", row) if not n.startswith("tests/")}
    # a module in a subpackage may be named by its file name after the subpackage (``runtime/`` ... ``kafka.py``)
    missing = {m for m in modules if m not in named and Path(m).name not in named}
    gone = {n for n in named if not any(m == n or Path(m).name == n for m in modules)}
    assert (missing, gone) == (set(), set())
