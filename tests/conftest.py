"""Test tiers: ``unit`` (pure logic), ``asgi`` (apps through httpx.ASGITransport), ``integration`` (real broker),
``deploy`` (the deployment files with their validators).

Fixture factories live in tests/fixtures/ and are registered here.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.services", "tests.fixtures.sse",
                  "tests.fixtures.api", "tests.fixtures.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test must declare its tier, so `-m unit` etc. select exactly what they say."""
    tiers = {"unit", "asgi", "integration", "deploy"}
    for item in items:
        if not tiers & {m.name for m in item.iter_markers()}:
            raise pytest.UsageError(f"{item.nodeid} has no tier marker (unit, asgi, integration or deploy)")
