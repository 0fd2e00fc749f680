"""Hand memory back to the system after a flood of streams has left: ``malloc_trim(0)`` once many streams ended.

Measured with bench 9 (``python -m bench --only flood``, 10,000 idle streams, twice; single runs on the shared
2-core machine): the server went from 60 to 200 MiB RSS, and once the streams had all left it stayed at 145 MiB
(+85), 173 MiB (+113) after a second flood. What a stream allocates (transport buffers, the HTTP parser, the
request's scope and task) is freed, but kept by two allocators:

- glibc's ``malloc`` keeps freed memory in its heaps for reuse and returns only the top of a heap on its own;
  ``malloc_trim(0)`` gives back every whole free page of every heap. That is what this module does: +64 MiB kept
  after the first flood, +74 to +88 after the second (from +85 / +113).
- Python's small-object allocator (pymalloc) returns a 1 MiB arena only when every object in it is gone:
  ``sys._debugmallocstats()`` after the flood showed 92 arenas (96 MiB) holding 26 MiB of objects and 3,940
  empty 16 KiB pools (64 MiB), which no trim reaches. With ``PYTHONMALLOC=malloc`` (Python on the C allocator)
  and this trim, the flood left +11 MiB, +12 after a second one — but every small object then costs the C
  allocator's block overhead: a rank-index entry ~18 % more (199 -> 234 B per user per board, a synthetic
  300,000-user index), a stream ~15 % more (13 -> 15 KiB). For a large player base that is more memory for good
  than a flood leaves behind, so it is the operator's choice (README, Operations), not the default.

The trim walks the heaps (milliseconds at this size), so it runs only from a once-a-second tick and only when at
least ``TRIM_AFTER`` streams ended since the peak (a flood leaving), never per disconnect.

Without glibc (musl, macOS) there is no ``malloc_trim`` and this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_AFTER = 1000  # streams ended since the peak before a trim


def glibc_malloc_trim() -> Callable[[], int] | None:
    """``malloc_trim(0)`` of the C library, or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class MemoryRelease:
    """Trims the heap once the open streams fell ``threshold`` below their peak since the last trim."""

    def __init__(self, open_streams: Callable[[], int], trim: Callable[[], int] | None,
                 threshold: int = TRIM_AFTER) -> None:
        self.open_streams = open_streams
        self.trim = trim
        self.threshold = threshold
        self.peak = 0
        self.trims = 0

    def tick(self) -> bool:
        """Trim if the streams fell far enough below their peak; returns whether it did."""
        now = self.open_streams()
        self.peak = max(self.peak, now)
        if self.trim is None or self.peak - now < self.threshold:
            return False
        self.trim()
        self.trims += 1
        self.peak = now
        return True


async def release_memory(release: MemoryRelease, interval: float = 1.0) -> None:
    """The once-a-second tick (for the app's lifetime)."""
    if release.trim is None:
        log.info("sse: no malloc_trim in this C library; memory after a flood of streams is the allocator's")
    while True:
        await asyncio.sleep(interval)
        release.tick()
