"""The seam around faust-streaming and mode: pinned, hashed, and the only place that touches their privates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stream_app import faust_internals

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SEAM = ROOT / "stream_app" / "faust_internals"
PRIVATE_ACCESS = re.compile(r"(?<![\w.])(?!self\b|cls\b)(\w+(?:\(\))?)\._[a-z]\w*")  # x._y, super()._y; not self._y
OWN_PRIVATE = re.compile(r"def (_[a-z]\w*)|self\.(_[a-z]\w*) =")
NAMEDTUPLE_API = ("_replace", "_asdict", "_fields", "_make")
PRIVATE_IMPORT = re.compile(r"^\s*(from|import)\s+(faust\.(transport|stores|tables)|mode)\b", re.MULTILINE)


def test_faust_and_mode_are_the_versions_and_sources_the_seam_was_written_against() -> None:
    """Fails on an upgrade of faust-streaming or mode, or on any change in an upstream function we override or
    rely on: read the new source, adapt the seam, then update PINNED/UPSTREAM."""
    assert faust_internals.drift() == []


def test_the_hashes_cover_every_override_and_detect_a_change() -> None:
    assert len(faust_internals.UPSTREAM) >= 25
    ref = "faust.transport.consumer:Consumer._drain_messages"
    assert faust_internals.source_hash(ref) == faust_internals.UPSTREAM[ref]
    assert faust_internals.source_hash("faust.transport.consumer:Consumer.ack") != faust_internals.UPSTREAM[ref]


def _ours() -> set[str]:
    """Private names our own code outside the seam defines (methods and attributes): touching those is fine."""
    names: set[str] = set(NAMEDTUPLE_API)
    for path in (ROOT / "stream_app").rglob("*.py"):
        if SEAM not in path.parents:
            for method, attribute in OWN_PRIVATE.findall(path.read_text()):
                names.add(method or attribute)
    return names


def _code_files() -> list[Path]:
    files = [p for p in (ROOT / "stream_app").rglob("*.py") if SEAM not in p.parents]
    return files + list((ROOT / "tests").rglob("*.py"))


def test_no_module_outside_the_seam_touches_a_faust_or_mode_private() -> None:
    offenders, ours = [], _ours()
    for path in _code_files():
        if path.name == Path(__file__).name:
            continue
        text = path.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in PRIVATE_ACCESS.finditer(code)
                      if m.group(0).rsplit(".", 1)[1] not in ours]
        offenders += [f"{path.relative_to(ROOT)}: import {m.group(2)}" for m in PRIVATE_IMPORT.finditer(code)]
    assert offenders == []
