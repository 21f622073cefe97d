"""API rate limits as fixed-window counters in the cache.

DRF's stock throttles keep, per client, the list of every request time in the
window and read and rewrite that whole list on each request: the cost grows
with the allowed rate (600 timestamps pickled per anonymous request at 600/min,
a hundred thousand for a load test). Here each request is one increment of one
counter per window: constant cost, one round trip on Redis. A fixed window
lets a client spend its allowance at the end of one window and again at the
start of the next; for abuse protection that is the usual trade.
"""

import time

from django.core.cache import cache as default_cache
from rest_framework import throttling


class CounterThrottleMixin:
    cache = default_cache
    timer = time.time

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        count = _hit(self.cache, f"{key}:{window}", self.duration + 1)
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.wait_seconds, 0.0)


def _hit(cache, key: str, ttl: int) -> int:
    """Count one request under `key` (created with `ttl` seconds to live); the new count."""
    backend = getattr(cache, "_cache", None)
    if hasattr(backend, "get_client"):  # Redis: create-with-expiry and INCR in one round trip
        redis_key = cache.make_and_validate_key(key)
        pipe = backend.get_client(redis_key, write=True).pipeline(transaction=False)
        pipe.set(redis_key, 0, ex=ttl, nx=True)
        pipe.incr(redis_key)
        return int(pipe.execute()[1])
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


class AnonRateThrottle(CounterThrottleMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(CounterThrottleMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(CounterThrottleMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request, view) -> bool:
        # The scope (and so the rate) comes from the view, as in DRF's own class.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
