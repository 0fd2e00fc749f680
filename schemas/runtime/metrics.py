"""The Prometheus registry every service builds its metrics in: its own, with the process and platform metrics.

Each service keeps its metrics in its own ``CollectorRegistry`` (several apps may share a test process), and each
registry also carries ``process_*`` (CPU seconds, resident and virtual memory, open files, start time) and
``python_info``. Building one turns off the ``*_created`` series of counters and histograms for the whole process
(``prometheus_client.disable_created_metrics``): a timestamp per label set that no dashboard reads, doubling the
series count. Every service builds its registry at start, so this runs in every service process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, disable_created_metrics


def service_registry() -> CollectorRegistry:
    """A new registry with the process and platform collectors; no ``_created`` series in this process."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide and idempotent
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
