"""What a seam on a framework's internals was written against, and whether the installed one still is.

The two seams (``stream_app.faust_internals`` on Faust, mode and aiokafka; ``schemas.runtime.uvicorn_internals``
on uvicorn and httptools) each pin the distributions they were written against and the source hash of every
upstream function they override or rely on; their unit tests assert ``drift`` is empty, so an upgrade that changes
any of them fails until someone has read the new source and updated the seam.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
from collections.abc import Mapping
from typing import Any


def source_hash(ref: str) -> str:
    """sha256[:16] of the source of ``"module:qualname"``."""
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def drift(pinned: Mapping[str, str], upstream: Mapping[str, str]) -> list[str]:
    """What differs from the pinned versions and source hashes (empty: nothing)."""
    found = [f"{dist} {importlib.metadata.version(dist)} installed, written against {version}"
             for dist, version in pinned.items() if importlib.metadata.version(dist) != version]
    for ref, expected in upstream.items():
        try:
            actual = source_hash(ref)
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            found.append(f"{ref}: gone ({exc!r})")
            continue
        if actual != expected:
            found.append(f"{ref}: source changed ({expected} -> {actual})")
    return found
