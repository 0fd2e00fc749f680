"""Test tiers: ``unit`` (pure logic), ``asgi`` (apps through httpx.ASGITransport), ``process`` (a real service
process or server on loopback, no broker: a process that must refuse to start is pointed at a port nobody listens
on and exits before connecting), ``integration`` (real broker), ``deploy`` (the deployment files with their
validators).

Fixture factories live in tests/fixtures/ and are registered here.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.services", "tests.fixtures.sse",
                  "tests.fixtures.api", "tests.fixtures.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test must declare its tier, so `-m unit` etc. select exactly what they say."""
    tiers = {"unit", "asgi", "process", "integration", "deploy"}
    for item in items:
        if not tiers & {m.name for m in item.iter_markers()}:
            raise pytest.UsageError(f"{item.nodeid} has no tier marker (unit, asgi, process, integration or deploy)")
