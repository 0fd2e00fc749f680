"""The producer side: one idempotent ``acks=all`` aiokafka producer per process, writing to ``score-events``.

A produce the broker does not acknowledge raises ``EventLogUnavailable`` (answered 503, never 500).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from producer_api.settings import ApiSettings
from schemas.events import ScoreEvent
from schemas.kafka import start_with_retry

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


class EventLogUnavailable(Exception):
    """The event could not be written to ``score-events``; the client should retry (same Idempotency-Key)."""


def encode(event: ScoreEvent) -> tuple[bytes, bytes]:
    """(key, value) of the ``score-events`` record: key = user_id, value = the event JSON without nulls."""
    return event.user_id.encode(), orjson.dumps(event.model_dump(exclude_none=True))


class EventLog:
    def __init__(self, settings: ApiSettings) -> None:
        self.topic = settings.topics.score_events
        self._settings = settings
        self._producer: Any = None
        self.started = False

    def _make(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers, client_id="scoreboard-api",
            acks="all", enable_idempotence=True, linger_ms=2, request_timeout_ms=self._settings.produce_timeout_ms,
        )

    async def start(self) -> None:
        self._producer = await start_with_retry(
            self._make, "producer_api producer", self._settings.kafka_connect_timeout
        )
        self.started = True

    async def stop(self) -> None:
        """Flush and stop, bounded: with the broker gone an idempotent producer would wait for it forever."""
        if self.started:
            self.started = False
            await stop_quietly(self._producer, "producer_api producer", self._settings.produce_timeout_ms / 1000)

    async def produce(self, event: ScoreEvent) -> None:
        """Return once the broker has acknowledged the record (all in-sync replicas), within the produce timeout.

        An idempotent aiokafka producer never expires a batch (it retries until the broker is back), so the
        bound is ours. A record given up on here may still be delivered later, exactly once: the 503 tells the
        client to retry, and a retry with the same Idempotency-Key has the same event id, which counts once.
        """
        key, value = encode(event)
        try:
            async with asyncio.timeout(self._settings.produce_timeout_ms / 1000):
                await self._producer.send_and_wait(self.topic, value=value, key=key)
        except (KafkaError, TimeoutError) as exc:
            log.warning("produce to %s failed: %r", self.topic, exc)
            raise EventLogUnavailable(str(exc)) from exc

    async def broker_answers(self, timeout: float = 2.0) -> bool:
        """A real round trip (a metadata request), bounded by ``timeout``."""
        if not self.started:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True
