"""Dead letters: a record the worker cannot apply goes to ``score-events-dlq`` as received, reason in headers.

The worker then goes on: no record stops or crashes it. Headers: ``x-dlq-reason`` (words a producer can act on),
``x-source-topic`` / ``-partition`` / ``-offset`` (where the original is; with them a consumer of the dead
letters can tell a copy sent again after a crash, which can happen: dead letters are at-least-once), and
``x-event-id`` when the record had one (the write API answers the waiting request with the reason).

A copy that cannot be produced — larger than the producer takes once the headers are added, or refused by the
producer outright — is replaced by a placeholder (header ``x-dlq-truncated``; value a small JSON object naming the
source record and its size; the key if it is small): the original stays in ``score-events``, the audit log. The
decision depends on the record alone, so a replay decides the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from faust.exceptions import ProducerSendError

from stream_app.topics import Output

log = logging.getLogger(__name__)
HEADROOM = 1024  # record batch and record overhead beside key, value and headers
SMALL_KEY = 1024


class DeadLetters:
    def __init__(self, output: Output, max_record_bytes: int,
                 counted: Callable[[str], None] = lambda reason: None) -> None:
        self.output = output
        self.limit = max_record_bytes - HEADROOM
        self.count = 0
        self.counted = counted  # told each reason (the worker's metrics count them by kind)

    async def send(self, message: Any, reason: str, event_id: str | None = None) -> None:
        self.count += 1
        self.counted(reason)
        headers = [
            ("x-dlq-reason", reason.encode()),
            ("x-source-topic", str(message.topic).encode()),
            ("x-source-partition", str(message.partition).encode()),
            ("x-source-offset", str(message.offset).encode()),
        ]
        if event_id is not None:
            headers.append(("x-event-id", event_id.encode()))
        log.warning("dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        key, value = message.key, message.value
        size = len(key or b"") + len(value or b"") + sum(len(k) + len(v) for k, v in headers)
        if size <= self.limit:
            try:
                await self.output.send(key=key, value=value, headers=headers)
                return
            except ProducerSendError as exc:
                log.warning("the dead-letter copy of %s[%s]@%s was refused (%s); sending a placeholder",
                            message.topic, message.partition, message.offset, exc)
        headers.append(("x-dlq-truncated", f"original key+value+headers {size} bytes".encode()))
        placeholder = orjson.dumps({"dead_letter": "placeholder", "topic": message.topic,
                                    "partition": message.partition, "offset": message.offset, "bytes": size})
        small_key = key if key is not None and len(key) <= SMALL_KEY else None
        await self.output.send(key=small_key, value=placeholder, headers=headers)
