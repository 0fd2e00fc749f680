"""Faust's aiokafka consumer, run on the worker's own event loop instead of a thread of its own.

Faust runs the aiokafka consumer in a ``ServiceThread`` with a second event loop, and every fetch, commit and
rebalance callback crosses between the two loops through a method queue: a ``call_soon_threadsafe`` each way and
several loop turns in the consumer thread, each of which has to win the GIL back from the main thread. Measured
with bench 7 (``python -m bench --only consumer``: records produced straight to ``score-events`` at 300 events/s,
two alternating runs each way, 2026-12-01, on the 2-core machine with a test run beside it): produce ->
``score-applied`` p50 4–6 ms here vs 9–11 ms in Faust's thread, p99 65–76 vs 104–133 ms, the same worker CPU.
``SCOREBOARD_WORKER_CONSUMER=thread`` runs Faust's way, for that comparison.

:class:`SameLoopConsumer` keeps Faust's ``AIOKafkaConsumerThread`` (the aiokafka consumer it builds, the
rebalance listener, commit and fetch logic) and replaces only the thread plumbing: it starts and stops as an
ordinary ``mode`` service on the app's loop, runs ``call_thread`` calls in place and calls the consumer's
rebalance callbacks directly. aiokafka keeps its own heartbeat task on that loop, so a batch handler that holds
the loop for less than the session timeout (batches are bounded by ``SCOREBOARD_BATCH_MAX``) cannot cost the
group membership.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode import Service
from mode.utils.futures import maybe_async

log = logging.getLogger(__name__)


class ReadCommitted(AIOKafkaConsumerThread):
    """Faust's consumer thread whose aiokafka consumer reads committed records only."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust reads uncommitted records unless it runs transactions itself, and a direct producer's aborted
        transaction must count nowhere; aiokafka reads the level at ``start``."""
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"
        return consumer


class SameLoopConsumer(ReadCommitted):
    """Faust's ``AIOKafkaConsumerThread`` without its thread: a service on the app's loop, calls made in place."""

    wait_for_shutdown = False  # no thread to signal that it is done

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, thread_loop=kwargs["loop"], **kwargs)

    # lifecycle: a plain service on the app's loop (ServiceThread would start a thread with a loop of its own)
    async def maybe_start(self) -> bool:
        if self._started.is_set():
            return False
        await self.start()
        return True

    async def start(self) -> None:
        await Service.start(self)

    async def stop(self) -> None:
        if self._started.is_set() and not self._stopped.is_set():
            try:  # stops the aiokafka consumer, as the thread did on its way out; bounded as the thread's wait was
                await asyncio.wait_for(self.on_thread_stop(), self.shutdown_timeout)
            except TimeoutError:
                log.warning("the Kafka consumer did not stop within %.0fs (broker unreachable?)", self.shutdown_timeout)
            await Service.stop(self)

    def _stopped_set(self) -> None:
        self._stopped.set()

    def set_shutdown(self) -> None:
        self._shutdown.set()

    async def _stop_children(self) -> None:
        await self._default_stop_children()

    async def _stop_futures(self) -> None:
        await self._default_stop_futures()

    async def _stop_exit_stacks(self) -> None:
        await self._default_stop_exit_stacks()

    async def crash(self, exc: BaseException) -> None:
        await Service.crash(self, exc)

    # calls that crossed into the thread run in place
    async def call_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))

    async def cast_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        await maybe_async(fun(*args, **kwargs))

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.consumer.on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        await self.consumer.on_partitions_assigned(assigned, generation_id)
