"""The send guard: a commit may pass only once everything produced before it was delivered."""

from __future__ import annotations

import asyncio

import pytest

from stream_app.sends import SendGuard, UndeliveredRecords

pytestmark = pytest.mark.unit


async def test_settle_waits_for_deliveries_in_flight_and_reports_none_when_all_arrived() -> None:
    guard, loop = SendGuard(), asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    guard.track(first, "1 record to a[0]")
    guard.track(second, "2 records to b[1]")
    loop.call_soon(first.set_result, "ok")
    loop.call_soon(second.set_result, "ok")
    assert await guard.settle() is None
    assert guard.in_flight == set()


async def test_one_failed_delivery_fails_every_later_settle_naming_it() -> None:
    guard, loop = SendGuard(), asyncio.get_running_loop()
    failed, fine = loop.create_future(), loop.create_future()
    guard.track(failed, "60 records to state-changelog[2]")
    guard.track(fine, "a record to score-applied")
    loop.call_soon(failed.set_exception, TimeoutError("no ack"))
    loop.call_soon(fine.set_result, "ok")
    failure = await guard.settle()
    assert isinstance(failure, UndeliveredRecords) and "state-changelog[2]" in str(failure)
    assert await guard.settle() is failure  # never forgotten: no commit may pass it
    failed.exception()  # retrieved (the guard saw it already)


async def test_a_cancelled_delivery_counts_as_failed() -> None:
    guard, loop = SendGuard(), asyncio.get_running_loop()
    future = loop.create_future()
    guard.track(future, "a record to dlq")
    future.cancel()
    failure = await guard.settle()
    assert failure is not None and "cancelled" in str(failure)
