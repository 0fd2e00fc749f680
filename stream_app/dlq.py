"""Dead letters: a record the worker cannot apply goes to ``score-events-dlq`` as received, reason in headers.

The worker then goes on: a poison message never stops or crashes it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


async def send_dead_letter(dlq_topic: Any, message: Any, reason: str) -> None:
    headers = [
        ("x-dlq-reason", reason.encode()),
        ("x-source-topic", str(message.topic).encode()),
        ("x-source-partition", str(message.partition).encode()),
        ("x-source-offset", str(message.offset).encode()),
    ]
    log.warning("dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
    await dlq_topic.send(key=message.key, value=message.value, headers=headers)
