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
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from faust.exceptions import ProducerSendError

from stream_app.topics import Output

log = logging.getLogger(__name__)
HEADROOM = 1024  # record batch and record overhead beside key, value and headers
SMALL_KEY = 1024


class DeadLetterLog:
    """The dead letters of an interval as one log line: the count by kind and up to ``samples`` examples."""

    def __init__(self, kind: Callable[[str], str], interval_s: float = 10.0, samples: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self.interval = interval_s
        self.samples = samples
        self.clock = clock
        self.since: float | None = None  # start of the interval being counted (None: quiet)
        self.kinds: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, where: str, reason: str) -> None:
        now = self.clock()
        if self.since is None:  # the first after a quiet interval: said at once
            self.since = now
            log.warning("dead letter %s: %s", where, reason)
            return
        self.kinds[self.kind(reason)] += 1
        if len(self.examples) < self.samples:
            self.examples.append(f"{where}: {reason[:200]}")
        self.flush_due(now)

    def flush_due(self, now: float | None = None) -> None:
        """Log the interval's summary once it is over (called on each dead letter and by a timer)."""
        now = self.clock() if now is None else now
        if self.since is None or now - self.since < self.interval:
            return
        if self.kinds:
            total = sum(self.kinds.values())
            by_kind = ", ".join(f"{kind} {n}" for kind, n in self.kinds.most_common())
            log.warning("%d more dead letters in %.0f s (%s); e.g. %s", total, now - self.since, by_kind,
                        " | ".join(self.examples))
            self.since = now  # a flood goes on: the next interval starts now
        else:
            self.since = None  # quiet: the next dead letter is said at once
        self.kinds.clear()
        self.examples.clear()


class DeadLetters:
    def __init__(self, output: Output, max_record_bytes: int,
                 counted: Callable[[str], None] = lambda reason: None, logged: DeadLetterLog | None = None) -> None:
        self.output = output
        self.limit = max_record_bytes - HEADROOM
        self.count = 0
        self.counted = counted  # told each reason (the worker's metrics count them by kind)
        self.logged = logged or DeadLetterLog(lambda reason: reason.split(":")[0][:40])

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
        self.logged.add(f"{message.topic}[{message.partition}]@{message.offset}", reason)
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
