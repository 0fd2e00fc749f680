"""When the read API trims the C heap (``sse_server/memory.py``): once a flood of streams has left, not per
disconnect. What it hands back is a bench figure (bench 9, ``python -m bench --only flood``), not a test: a fixed
residue of ~11-14 MiB stays whatever the flood, so only a flood of ~10,000 streams tells it apart, too heavy for
a test on a shared 2-core machine."""

from __future__ import annotations

import pytest

from sse_server.memory import MemoryRelease, glibc_malloc_trim

pytestmark = pytest.mark.unit


def test_trims_once_the_streams_fell_a_threshold_below_their_peak() -> None:
    open_now, trims = [0], []
    release = MemoryRelease(lambda: open_now[0], lambda: trims.append(1) or 1, threshold=100)
    for count in (50, 500, 450, 401):  # up to a peak of 500, then 99 fewer: not yet
        open_now[0] = count
        assert release.tick() is False
    open_now[0] = 400
    assert release.tick() is True and len(trims) == 1
    open_now[0] = 350  # the peak is now 400: 50 fewer is not another flood
    assert release.tick() is False
    open_now[0] = 0
    assert release.tick() is True and len(trims) == 2


def test_without_malloc_trim_nothing_is_done() -> None:
    release = MemoryRelease(lambda: 0, None, threshold=1)
    release.peak = 10
    assert release.tick() is False


def test_glibc_malloc_trim_is_found_and_callable_here() -> None:
    trim = glibc_malloc_trim()  # the test machine and the image are glibc (Debian)
    assert trim is not None and trim() in (0, 1)
