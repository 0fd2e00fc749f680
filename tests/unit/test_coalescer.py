"""The emitter's rate limit (``stream_app.emitter.Coalescer``) on a fake clock: jitter around the interval costs no
wait, a burst is bounded, and the last offer always runs."""

from __future__ import annotations

import asyncio
import random

import pytest

from stream_app.emitter import Coalescer
from tests.fixtures.clock import FakeClock

pytestmark = pytest.mark.unit


async def _due_fires(coalescer: Coalescer[str], clock: FakeClock) -> None:
    """Run a scheduled turn whose time (on the fake clock) has come, as the loop's timer would."""
    handle = coalescer.scheduled.get("b")
    if handle is not None and coalescer.due["b"] - coalescer.interval <= clock.now:
        handle.cancel()
        coalescer._fire("b")
        await asyncio.gather(*coalescer.tasks)


async def test_offers_about_once_per_interval_run_at_once_whatever_their_jitter() -> None:
    """10 changes/s against a 100 ms interval, each up to 30 ms early or late: no change waits (a strict gap between
    runs made each early one wait, and the waits added up to a standing delay)."""
    clock, runs = FakeClock(), []

    async def action(key: str) -> None:
        runs.append(clock.now)

    coalescer = Coalescer(0.1, action, clock=clock)
    rng = random.Random(7)
    for i in range(1, 500):
        clock.now = i * 0.1 + rng.uniform(-0.03, 0.03)
        await coalescer.offer("b")
        assert not coalescer.scheduled, f"offer {i} at {clock.now:.3f} waited"
    assert len(runs) == 499


async def test_a_sustained_burst_runs_at_most_once_per_interval_plus_one_and_ends_with_the_last_offer() -> None:
    clock, runs = FakeClock(), []

    async def action(key: str) -> None:
        runs.append(clock.now)

    coalescer = Coalescer(0.1, action, clock=clock)
    for step in range(1000):  # an offer every millisecond for a second
        clock.now = step / 1000
        await _due_fires(coalescer, clock)
        await coalescer.offer("b")
    last_offer = clock.now
    while coalescer.scheduled:
        clock.now += 0.001
        await _due_fires(coalescer, clock)
    assert runs[:2] == [0.0, 0.001]  # a burst of two at once
    assert len(runs) <= 1.0 / 0.1 + 2  # the span of the offers and one more turn for the last
    assert runs[-1] >= last_offer  # the last state went out
    for start in runs:  # in any span of n intervals, n + 1 runs at most
        for n in (1, 3, 5):
            assert sum(1 for t in runs if start <= t < start + n * 0.1) <= n + 1, (start, n, runs)


async def test_an_offer_after_a_quiet_interval_runs_at_once() -> None:
    clock, runs = FakeClock(), []

    async def action(key: str) -> None:
        runs.append(clock.now)

    coalescer = Coalescer(0.1, action, clock=clock)
    for _ in range(3):
        await coalescer.offer("b")
    coalescer.scheduled.pop("b").cancel()
    clock.now = 5.0
    await coalescer.offer("b")
    assert runs == [0.0, 0.0, 5.0] and not coalescer.scheduled


async def test_a_turn_is_taken_when_its_run_starts_so_a_held_loop_adds_no_third_run() -> None:
    """The timer fires at its turn but the loop is held for 1.5 intervals before the run starts: offers meanwhile
    fold into that run, and no span of one interval holds more than two runs (the breaker's case)."""
    clock, runs = FakeClock(), []

    async def action(key: str) -> None:
        runs.append(clock.now)

    coalescer = Coalescer(0.1, action, clock=clock)
    for _ in range(3):
        await coalescer.offer("b")  # runs at 0 and 0; the third is scheduled for 0.1
    clock.now = 0.1
    coalescer.scheduled["b"].cancel()
    coalescer._fire("b")  # the timer fires; its run has not started
    clock.now = 0.25
    await coalescer.offer("b")  # folded into the fired run, which has not started yet
    await asyncio.gather(*coalescer.tasks)  # it starts now, at 0.25
    clock.now = 0.34
    await coalescer.offer("b")
    clock.now = 0.345
    await coalescer.offer("b")
    coalescer.scheduled.pop("b").cancel()
    assert runs == [0.0, 0.0, 0.25, 0.34]
    assert all(sum(1 for t in runs if start <= t < start + 0.1) <= 2 for start in runs)


async def test_runs_of_one_key_never_overlap() -> None:
    started, release = [], asyncio.Event()

    async def action(key: str) -> None:
        started.append(key)
        if len(started) == 1:
            await release.wait()

    coalescer = Coalescer(0.1, action, clock=FakeClock())
    first = asyncio.ensure_future(coalescer.offer("b"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(coalescer.offer("b"))  # the burst's second turn, while the first still sends
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == ["b"]  # it waits for the first run to end
    release.set()
    await asyncio.gather(first, second)
    assert started == ["b", "b"]
