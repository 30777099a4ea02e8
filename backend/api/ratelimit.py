"""A per-client rate limiter (token bucket per key, thread-safe, memory bounded) and who the client of a request is."""
from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, Optional


class RateLimiter:
    """`burst` requests at once per key, refilled at `rate_per_s` (e.g. RateLimiter(0.1, 20): 20 at once, then one
    every 10 s). allow(key) takes one token if there is one; retry_after(key) says how long until there is one,
    without taking it. At most `max_keys` keys are kept: the least recently seen goes first (it comes back with a
    full bucket, so the bound trades a little leniency for memory, never a refusal of a stranger)."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if not (isinstance(rate_per_s, (int, float)) and math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s = {rate_per_s!r} is not allowed: a finite number > 0")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst = {burst!r} is not allowed: an integer >= 1")
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys = {max_keys!r} is not allowed: an integer >= 1")
        self.rate_per_s, self.burst, self.max_keys = float(rate_per_s), burst, max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate_per_s)

    def allow(self, key: str) -> bool:
        """True (and one token taken) when `key` may go ahead now; False when it must wait."""
        with self._lock:
            now = self._clock()
            tokens = self._tokens(key, now)
            ok = tokens >= 1
            self._buckets[key] = (tokens - 1 if ok else tokens, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return ok

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may go ahead (0.0: now). Takes nothing."""
        with self._lock:
            tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_per_s

    def __len__(self) -> int:
        return len(self._buckets)


SPACE_ENV = "SPACE_ID"   # set by Hugging Face Spaces, whose proxy is the only hop that reaches the app


def client_key(peer: Optional[str], forwarded_for: Optional[str] = None) -> str:
    """Who is asking, for rate limits: the peer address, or on a Hugging Face Space (SPACE_ID set) the first hop of
    X-Forwarded-For, which its proxy sets; elsewhere that header is the client's own word and is ignored."""
    if os.environ.get(SPACE_ENV) and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first[:64]
    return (peer or "unknown")[:64]
