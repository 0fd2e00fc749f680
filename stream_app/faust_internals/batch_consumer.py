"""Batch delivery on Faust's own consumer: the worker's hot topics skip Faust's per-message stream machinery.

Measured on the 2-core bench machine with 100k records on 6 partitions: a Faust agent that does nothing but
``stream.take_events`` ran at about 4,400 events/s, spending ~230 µs of CPU per message in Faust itself — one
``Service.wait_first`` (two tasks) per message in ``Consumer._drain_messages``, the conductor callback, the
channel queue, and ``sleep(0)`` plus processors per message in the stream iterator. The same consumer handing
each fetched batch to a plain coroutine ran at about 34,000 events/s.

So :class:`BatchConsumer` is Faust's aiokafka consumer with one change: records of topics that have a *batch
handler* are collected per fetch and handed over as one list of Faust messages. Everything else stays Faust's:
group membership and the co-partitioning assignor, table recovery from changelogs before a partition is served,
flow control on rebalance, offsets committed only after the producer is flushed. Each record of a batch is tracked
as in flight before the handler runs and acknowledged after it returns, so Faust's ``wait_empty`` (on rebalance and
shutdown) waits for the batch, and the handler runs shielded: stopping the fetcher never cuts a batch in half.
Records of other topics go the usual per-message way. The aiokafka consumer underneath runs on the app's loop, not
in Faust's consumer thread (:mod:`stream_app.faust_internals.same_loop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_app.faust_internals.same_loop import ReadCommitted, SameLoopConsumer
from stream_app.sends import SendGuard

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Any]], Awaitable[None]]


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer delivering whole fetches to per-topic batch handlers, on the app's own loop."""

    def _new_consumer_thread(self) -> ReadCommitted:
        if getattr(self.transport, "consumer_in_thread", False):  # Faust's way: a thread with a loop of its own
            return ReadCommitted(self, loop=self.loop, beacon=self.beacon)
        return SameLoopConsumer(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Any) -> bool:
        """Commit only once everything produced so far is delivered (Faust has just flushed the producer); after
        a failed send, never: the worker crashes and re-reads from the last commit (see :mod:`stream_app.sends`)."""
        guard: SendGuard | None = getattr(self.transport, "send_guard", None)
        if guard is not None:
            failure = await guard.settle()
            if failure is not None:
                log.error("not committing %d offsets: %s; the worker stops and re-reads from the last commit",
                          len(offsets), failure)
                await self.app.crash(failure)
                return False
        committed: bool = await super()._commit(offsets)
        return committed

    @property
    def undelivered(self) -> set[Any]:
        """Partitions with records fetched (the position is past them) but not yet handed to their handler."""
        found: set[Any] | None = self.__dict__.get("_undelivered")
        if found is None:
            found = self.__dict__["_undelivered"] = set()
        return found

    async def caught_up(self, tp: Any) -> bool:
        """Whether every record of ``tp`` up to its high watermark has been handed to its handler (the position
        skips transaction markers, which a last-offset count would not)."""
        if tp in self.undelivered:
            return False
        highwater = self.highwater(tp)  # None until the first fetch response for it
        position = await self.position(tp) if highwater is not None else None
        return position is not None and highwater is not None and position >= highwater

    async def _drain_messages(self, fetcher: Any) -> None:
        handlers: dict[str, BatchHandler] = getattr(self.transport, "batch_handlers", {})
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batches: dict[str, list[Any]] = {}
                await asyncio.sleep(0)  # as Faust does: never hog the loop between fetches
                if self.should_stop:
                    break
                async for tp, message in self.getmany(timeout=1.0):
                    offset = message.offset
                    read = get_read_offset(tp)
                    if read is not None and offset < read:
                        continue  # already read (Faust drops these too)
                    if read and offset - read > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, read + 1, offset)  # e.g. transaction markers
                    batch = batches.get(tp.topic) if tp.topic in handlers else None
                    if batch is None and tp.topic in handlers:
                        batch = batches[tp.topic] = []
                    if batch is not None:
                        batch.append(message)
                        self.undelivered.add(tp)
                    else:
                        await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    set_read_offset(tp, offset)
                for topic, messages in batches.items():
                    await self._deliver(handlers[topic], messages)
                self.undelivered.clear()
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, handler: BatchHandler, messages: list[Any]) -> None:
        for message in messages:
            self.track_message(message)
        task = asyncio.ensure_future(self.run_batch(handler, messages))
        await asyncio.shield(task)

    async def run_batch(self, handler: BatchHandler, messages: list[Any]) -> None:
        try:
            await handler(messages)
        except Exception as exc:  # a bug: say so loudly and stop the worker; the batch is redelivered on restart
            log.exception("batch handler for %s failed; the worker stops (the batch is redelivered)",
                          messages[0].topic)
            await self.app.crash(exc)
            raise  # and the drain stops too: no later batch may be applied ahead of this one
        ack = self.ack
        for message in messages:
            ack(message)


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport whose consumer is :class:`BatchConsumer`; holds the batch handlers by topic."""

    Consumer = BatchConsumer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, BatchHandler] = {}
        self.send_guard: SendGuard | None = None
        self.consumer_in_thread = False


def install_batch_transport(app: Any, guard: SendGuard | None = None,
                            consumer_in_thread: bool = False) -> dict[str, BatchHandler]:
    """Give ``app`` the batch transport (before it starts); returns the handler registry to fill. With a ``guard``,
    offsets are committed only once every record it watches is delivered; ``consumer_in_thread`` runs the aiokafka
    consumer the way Faust does, in a thread with a loop of its own (to measure the difference)."""
    transport = BatchTransport(app.conf.broker_consumer, app)
    transport.send_guard = guard
    transport.consumer_in_thread = consumer_in_thread
    app.transport = transport
    handlers: dict[str, BatchHandler] = transport.batch_handlers
    return handlers


def register_batch_handler(app: Any, handlers: dict[str, BatchHandler], topic: Any, handler: BatchHandler) -> None:
    """Subscribe ``topic`` (a Faust topic, acks on) and route its records to ``handler`` in batches."""
    for name in topic.topics:
        handlers[name] = handler
    app.topics.add(topic)
