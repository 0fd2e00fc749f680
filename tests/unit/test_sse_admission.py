"""The stream caps' bookkeeping (``sse_server/admission.py``); the answers on the wire are in
``tests/integration/test_sse_stream_caps.py``."""

from __future__ import annotations

import pytest

from sse_server.admission import CLIENT_FULL_RETRY_S, PROCESS_FULL_RETRY_S, StreamAdmission, client_address
from sse_server.metrics import SseMetrics

pytestmark = pytest.mark.unit


def refused(metrics: SseMetrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value("scoreboard_sse_streams_refused_total", {"reason": reason})


def test_per_address_cap_then_process_cap_then_room_again_after_a_release() -> None:
    metrics = SseMetrics()
    admission = StreamAdmission(max_streams=4, max_per_client=2, metrics=metrics)
    assert admission.admit("a") is None and admission.admit("a") is None
    over = admission.admit("a")
    assert over is not None and (over.status, over.retry_after_s, over.reason) == (429, CLIENT_FULL_RETRY_S,
                                                                                     "client_full")
    assert admission.admit("b") is None and admission.admit("c") is None
    full = admission.admit("d")
    assert full is not None and (full.status, full.retry_after_s) == (503, PROCESS_FULL_RETRY_S)
    assert refused(metrics, "client_full") == 1 and refused(metrics, "process_full") == 1
    assert metrics.registry.get_sample_value("scoreboard_sse_client_addresses") == 3

    admission.release("a")
    assert admission.admit("d") is None  # room again, for anyone
    for client in ("a", "b", "c", "d"):
        admission.release(client)
    assert (admission.open, admission.by_client) == (0, {})  # an address without streams is forgotten


def test_the_process_cap_is_checked_first_and_counts_every_address() -> None:
    admission = StreamAdmission(max_streams=1, max_per_client=1, metrics=SseMetrics())
    assert admission.admit("a") is None
    again = admission.admit("a")
    assert again is not None and again.status == 503


def test_client_address_is_the_asgi_client_host_or_one_shared_name() -> None:
    assert client_address({"client": ("203.0.113.9", 5555)}) == "203.0.113.9"
    assert client_address({"client": None}) == client_address({}) == "unknown"
