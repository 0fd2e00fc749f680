"""The test tiers are folders without ``__init__.py``: pytest imports each test file by its basename, so two tiers
holding the same file name fail the whole collection. Caught here, by name, before a run collects nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_name_is_unique_across_the_tiers() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
