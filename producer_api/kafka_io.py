"""The producer side: one idempotent ``acks=all`` aiokafka producer per process, writing to ``score-events``.

A produce that fails says what is known (never a 500): ``EventLogUnavailable`` when the record never left this
process — nothing was written (503); ``OutcomeUnknown`` when it was handed to the producer but the broker did not
acknowledge it in time — it may be written now or later (504: retry with the same ``Idempotency-Key``, which counts
once). An idempotent producer keeps retrying a record it holds until the broker is back; so a record given up on
may still be delivered, and only the idempotent event id makes the client's retry safe.

An idempotent aiokafka producer can be left in a state it never leaves by itself: after a broker restart it keeps
failing every send with ``OutOfOrderSequenceNumber`` (its sequence numbers no longer match the broker's), and the
API would answer 503 until restarted by hand. Such a *fatal* producer error makes :class:`EventLog` build a new
producer (a new producer id) in the background and stop the old one; until the new one has started, sends fail
fast and ``/readyz`` says not ready. If no producer can be started within ``SCOREBOARD_KAFKA_CONNECT_TIMEOUT``, it
tries again on the next fatal error and ``/healthz`` fails meanwhile, so an orchestrator restarts the process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from producer_api.settings import ApiSettings
from schemas.events import ScoreEvent, ScoreRequest
from schemas.runtime.kafka import client_options, start_with_retry

log = logging.getLogger(__name__)


async def stop_quietly(client: Any, what: str, timeout: float) -> None:
    """Stop an aiokafka client at shutdown, bounded, whatever state the broker is in.

    With the broker gone, an idempotent producer waits forever for its unacknowledged records, and a
    consumer's fetcher re-raises the cancellation of its own internal task; neither may fail the shutdown.
    """
    try:
        async with asyncio.timeout(timeout):
            await client.stop()
    except TimeoutError:
        log.warning("%s: not stopped cleanly within %.1fs (broker unreachable?)", what, timeout)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves
        log.warning("%s: internal task cancelled while stopping (broker unreachable?)", what)
    except (KafkaError, OSError) as exc:
        log.warning("%s: error while stopping: %r", what, exc)


FATAL = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)


class EventLogUnavailable(Exception):
    """Nothing was written to ``score-events`` (the record never left this process); the client may retry."""


class OutcomeUnknown(Exception):
    """The record was handed to the producer but not acknowledged in time: it may or may not be (or become)
    written. Only a retry with the same Idempotency-Key (same event id, counted once) is safe."""


def encode(event: ScoreEvent) -> tuple[bytes, bytes]:
    """(key, value) of the ``score-events`` record: key = user_id, value = the event JSON without nulls."""
    return event.user_id.encode(), orjson.dumps(event.model_dump(exclude_none=True))


def encode_request(score: ScoreRequest, event_id: str, occurred_at: datetime) -> tuple[bytes, bytes]:
    """The same bytes as ``encode(ScoreEvent(...))`` for an already validated request, without building and
    validating a second model per request (the request's fields passed the same validators)."""
    value: dict[str, Any] = {"user_id": score.user_id, "action_id": score.action_id, "event_id": event_id}
    if score.username is not None:
        value["username"] = score.username
    value["occurred_at"] = occurred_at
    if score.value is not None:
        value["value"] = score.value
    return score.user_id.encode(), orjson.dumps(value)


def _give_up(delivered: asyncio.Future[Any]) -> None:
    """The produce bound passed: fail this record's future (aiokafka skips futures already done)."""
    if not delivered.done():
        delivered.set_exception(TimeoutError("the broker did not acknowledge the record in time"))


class KeyPartitioner:
    """aiokafka's default partitioner (Java-compatible murmur2 of the key), remembered per key: murmur2 is pure
    Python and users post again and again. The mapping is exactly the default one, which the worker relies on."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._index: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)  # type: ignore[no-any-return]
        count = len(all_partitions)
        index = self._index.get((key, count))
        if index is None:
            if len(self._index) >= self.MAX_KEYS:
                self._index.clear()
            index = self._index[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return all_partitions[index]


class EventLog:
    def __init__(self, settings: ApiSettings) -> None:
        self.topic = settings.topics.score_events
        self._settings = settings
        self._options = client_options(settings)
        self._producer: Any = None
        self._timeout = settings.produce_timeout_ms / 1000
        self.started = False
        self.rebuilding: asyncio.Task[None] | None = None  # a new producer being started after a fatal error
        self.failed = False  # the last rebuild could not start a producer: the process cannot write (liveness)
        self.rebuilds = 0

    def _make(self) -> AIOKafkaProducer:
        # linger 0: a record goes out at once. Under load records still share requests (aiokafka sends one request
        # per broker at a time; what arrives meanwhile waits for it), and at idle 2 ms of linger was 2 ms more per
        # POST (bench 3, 10 ev/s: 1 client p50 12-14 -> 11 ms, 1,000 clients 20-21 -> 18 ms; bench 2's 202 rate
        # the same, 8,542 both ways, 2026-12-02)
        return AIOKafkaProducer(
            **self._options, client_id="scoreboard-api",
            acks="all", enable_idempotence=True, linger_ms=0, request_timeout_ms=self._settings.produce_timeout_ms,
            partitioner=KeyPartitioner(),
        )

    async def start(self) -> None:
        self._producer = await start_with_retry(
            self._make, "producer_api producer", self._settings.kafka_connect_timeout, self._options
        )
        self.started = True

    async def stop(self) -> None:
        """Flush and stop, bounded: with the broker gone an idempotent producer would wait for it forever."""
        if self.rebuilding is not None:
            self.rebuilding.cancel()
            await asyncio.gather(self.rebuilding, return_exceptions=True)
        if self.started:
            self.started = False
            await stop_quietly(self._producer, "producer_api producer", self._settings.produce_timeout_ms / 1000)

    def _rebuild(self, reason: BaseException) -> None:
        """Replace the producer after a fatal error (once at a time, in the background)."""
        if self.rebuilding is None and self.started:
            log.warning("producer_api producer: fatal error %r; building a new producer", reason)
            self.rebuilding = asyncio.ensure_future(self._replace())

    async def _replace(self) -> None:
        old = self._producer
        try:
            self._producer = await start_with_retry(self._make, "producer_api producer (rebuilt)",
                                                    self._settings.kafka_connect_timeout, self._options)
            self.failed = False
            self.rebuilds += 1
            log.info("producer_api producer: a new producer is writing to %s", self.topic)
        except Exception:
            self.failed = True
            log.exception("producer_api producer: no new producer could be started; /healthz fails until one is")
        finally:
            self.rebuilding = None
        if self._producer is not old:
            await stop_quietly(old, "producer_api producer (replaced)", self._timeout)

    async def produce(self, key: bytes, value: bytes) -> None:
        """Write one ``score-events`` record: see :meth:`produce_to`."""
        await self.produce_to(self.topic, key, value)

    async def produce_to(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> int:
        """Return the record's partition once the broker has acknowledged it (all in-sync replicas), within the
        produce timeout. ``partition`` None: the key's (murmur2, ``KeyPartitioner``). The same idempotent producer
        writes every topic of the API (``score-events``, and ``moderation`` for the admin routes).

        Raises ``EventLogUnavailable`` if the record never reached the producer's buffer (no producer, no
        metadata, no buffer space): nothing was written. Raises ``OutcomeUnknown`` if it did and no
        acknowledgement came within the bound, or the producer failed while holding it: an idempotent aiokafka
        producer never expires a batch (it retries until the broker is back), so it may be written later.

        The bound is one timer on the record's own delivery future, not an ``asyncio.timeout`` scope (a third of
        the cost per request). Enqueueing is bounded by aiokafka itself: its ``request_timeout_ms`` is the same
        setting, and the delivery gets what remains of the bound.
        """
        if self.rebuilding is not None or self.failed:
            if self.failed:
                self._rebuild(RuntimeError("no producer"))
            raise EventLogUnavailable("the event log producer is being replaced")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        try:  # aiokafka's send() waits for metadata and buffer space, then appends: a failure here wrote nothing
            delivered = await self._producer.send(topic, value=value, key=key, partition=partition)
        except (KafkaError, TimeoutError) as exc:
            log.warning("produce to %s failed before sending: %r", topic, exc)
            if isinstance(exc, FATAL):
                self._rebuild(exc)
            raise EventLogUnavailable(str(exc) or type(exc).__name__) from exc
        timer = loop.call_at(deadline, _give_up, delivered)
        try:
            metadata = await delivered
        except (KafkaError, TimeoutError) as exc:
            log.warning("produce to %s not acknowledged: %r (outcome unknown)", topic, exc)
            if isinstance(exc, FATAL):
                self._rebuild(exc)
            raise OutcomeUnknown(str(exc) or type(exc).__name__) from exc
        finally:
            timer.cancel()
        return int(metadata.partition)

    async def partitions_of(self, topic: str) -> list[int]:
        """The partitions of ``topic``, from the producer's metadata (fetched if not known yet, bounded by the
        produce timeout); ``EventLogUnavailable`` when they cannot be known."""
        if not self.started or self.rebuilding is not None or self.failed:
            raise EventLogUnavailable("the event log producer is not running")
        try:
            found = await asyncio.wait_for(self._producer.partitions_for(topic), self._timeout)
        except (KafkaError, TimeoutError) as exc:
            raise EventLogUnavailable(f"the partitions of {topic} are unknown: {exc!r}") from exc
        if not found:
            raise EventLogUnavailable(f"topic {topic} has no partitions (does it exist?)")
        return sorted(found)

    async def broker_answers(self, timeout: float = 2.0) -> bool:
        """A real round trip (a metadata request), bounded by ``timeout``."""
        if not self.started or self.rebuilding is not None or self.failed:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True
