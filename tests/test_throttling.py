"""API rate limits (shop.core.throttling): a counter per client and window, on the
configured cache (Redis in the PostgreSQL+Redis CI stage, local memory else)."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from shop.core import throttling


@pytest.fixture
def three_per_minute(settings, monkeypatch):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/min"}
    monkeypatch.setattr(throttling.AnonRateThrottle, "THROTTLE_RATES", rates)
    clock = {"now": 60 * 16_667 + 20.0}  # 20 s into a minute window
    monkeypatch.setattr(throttling.CounterThrottleMixin, "timer", lambda self: clock["now"])
    return clock


@pytest.mark.django_db
def test_anonymous_reads_are_limited_per_window_with_a_retry_after(three_per_minute):
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert client.get("/api/v1/categories/").status_code == 200
    refused = client.get("/api/v1/categories/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert refused["Retry-After"] == "40"
    # Another client has its own allowance.
    assert APIClient(REMOTE_ADDR="203.0.113.8").get("/api/v1/categories/").status_code == 200
    # The next window starts afresh.
    three_per_minute["now"] += 40
    assert client.get("/api/v1/categories/").status_code == 200


def test_counter_is_one_key_per_window_whatever_the_rate():
    cache.delete_many(["t:1", "t:2"])
    assert [throttling._hit(cache, "t:1", 61) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert throttling._hit(cache, "t:2", 61) == 1
    assert cache.get("t:1") == 5
