"""The seam around uvicorn's HTTP protocol: pinned, hashed, and the only place that touches uvicorn's internals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.runtime import uvicorn_internals

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SEAM = ROOT / "schemas" / "runtime" / "uvicorn_internals.py"
INTERNAL_IMPORT = re.compile(r"^\s*(from|import)\s+uvicorn\.(protocols|server|config|_types|middleware)\b",
                             re.MULTILINE)


def test_uvicorn_and_httptools_are_the_versions_and_sources_the_seam_was_written_against() -> None:
    """Fails on an upgrade of uvicorn or httptools, or on any change in an upstream function we override or rely
    on: read the new source (a header timeout or size option of uvicorn's own may make the seam unneeded), adapt,
    then update PINNED/UPSTREAM."""
    assert uvicorn_internals.drift() == []


def test_the_hashes_cover_every_override_and_detect_a_change() -> None:
    overridden = {name for name in vars(uvicorn_internals.BoundedHttpToolsProtocol)
                  if callable(getattr(uvicorn_internals.HttpToolsProtocol, name, None))}
    hashed = {ref.rsplit(".", 1)[1] for ref in uvicorn_internals.UPSTREAM}
    assert overridden <= hashed
    ref = "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.data_received"
    assert uvicorn_internals.source_hash(ref) == uvicorn_internals.UPSTREAM[ref]
    other = "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol.on_url"
    assert uvicorn_internals.source_hash(other) != uvicorn_internals.UPSTREAM[ref]


def test_no_module_outside_the_seam_imports_uvicorn_internals() -> None:
    files = [p for pkg in ("schemas", "producer_api", "sse_server", "stream_app", "tools", "bench", "tests")
             for p in (ROOT / pkg).rglob("*.py") if p != SEAM]
    assert [str(p.relative_to(ROOT)) for p in files if INTERNAL_IMPORT.search(p.read_text())] == []


def test_the_bounds_are_class_attributes_of_the_protocol_uvicorn_is_given() -> None:
    cls = uvicorn_internals.bounded_httptools(3.5, 4096)
    assert issubclass(cls, uvicorn_internals.HttpToolsProtocol)
    assert (cls.request_timeout_s, cls.max_header_bytes) == (3.5, 4096)
    assert uvicorn_internals.BoundedHttpToolsProtocol.request_timeout_s == 10.0  # the base is left alone
