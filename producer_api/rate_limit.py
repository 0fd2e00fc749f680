"""Per-API-key rate limits on ``POST /scores``: ``429`` with ``Retry-After`` beyond ``SCOREBOARD_RATE_LIMIT``.

One client with a valid key must not be able to take the whole write path (and the worker behind it). The limit is
the ``limits`` library's (fixed window, in memory, per replica: N replicas admit up to N times the limit), keyed by
a hash prefix of the API key (never the key). ~7 µs per request measured; a limit of ``""`` turns it off.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from pydantic import SecretStr


def key_id(key: SecretStr) -> str:
    """The id of an API key in logs, metrics and limits: a hash prefix, never the key."""
    return "k-" + hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:12]


class KeyRateLimit:
    def __init__(self, spec: str) -> None:
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self.limiter = FixedWindowRateLimiter(MemoryStorage())
        self.ids: dict[int, str] = {}
        self.spec = spec

    def retry_after(self, key: SecretStr) -> int | None:
        """None when the request may go on (and it is counted); else the seconds to wait before retrying."""
        if not self.items:
            return None
        ident = self.ids.get(id(key))
        if ident is None:
            ident = self.ids[id(key)] = key_id(key)
        for item in self.items:
            if not self.limiter.hit(item, ident):
                reset = self.limiter.get_window_stats(item, ident).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
