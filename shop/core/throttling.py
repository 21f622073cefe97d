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
from rest_framework.settings import api_settings


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


class FailureLimit:
    """Counts failed attempts (wrong codes, say) per key in fixed windows; refuses once a key has too many.

    Only failures count, so a shopper who types a right code is never slowed
    down, while a guesser is stopped after `num_requests` misses per window
    on any of its keys (its account and its client address alike). The rate
    is REST_FRAMEWORK's DEFAULT_THROTTLE_RATES[scope], read when used.
    """

    cache = default_cache
    timer = time.time

    def __init__(self, scope: str):
        self.scope = scope

    def _rate(self) -> tuple[int, int]:
        return throttling.SimpleRateThrottle.parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES[self.scope])

    def _keys(self, keys) -> tuple[list[str], int, float]:
        _num, duration = self._rate()
        now = self.timer()
        window = int(now // duration)
        return (
            [f"failures:{self.scope}:{key}:{window}" for key in keys if key],
            duration,
            (window + 1) * duration - now,
        )

    def wait(self, keys) -> float:
        """Seconds until `keys` may try again (0.0: they may now)."""
        num, _duration = self._rate()
        names, _duration, left = self._keys(keys)
        counts = self.cache.get_many(names)
        return max(left, 0.0) if any(int(count) >= num for count in counts.values()) else 0.0

    def record(self, keys) -> None:
        """Count one failure against each key."""
        names, duration, _left = self._keys(keys)
        for name in names:
            _hit(self.cache, name, duration + 1)
