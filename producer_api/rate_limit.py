"""Per-API-key rate limits on ``POST /scores``: ``429`` with ``Retry-After`` beyond ``SCOREBOARD_RATE_LIMIT``.

One client with a valid key must not be able to take the whole write path (and the worker behind it). The limit is
the ``limits`` library's (fixed window, in memory, per replica: N replicas admit up to N times the limit), keyed by
the API key's id (``producer_api.auth``: a client's budget survives a key rotation; never the key). ~7 µs per
request measured; a limit of ``""`` turns it off.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from producer_api.auth import Credential


class KeyRateLimit:
    def __init__(self, spec: str) -> None:
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self.limiter = FixedWindowRateLimiter(MemoryStorage())
        self.spec = spec

    def retry_after(self, key: Credential) -> int | None:
        """None when the request may go on (and it is counted); else the seconds to wait before retrying."""
        if not self.items:
            return None
        ident = key.key_id
        for item in self.items:
            if not self.limiter.hit(item, ident):
                reset = self.limiter.get_window_stats(item, ident).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
