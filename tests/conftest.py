"""Project-wide test fixtures.

Tests run on SQLite by default and on PostgreSQL + Redis when DATABASE_URL /
REDIS_URL are set. Tests marked `postgres` (real concurrent transactions,
triggers, full-text search) skip with a reason on SQLite; tests marked
`redis` skip without a Redis URL.
"""

import pytest
from django.conf import settings


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL (real concurrent transactions / triggers / FTS): set DATABASE_URL=postgres://..."
    )
    skip_redis = pytest.mark.skip(reason="needs a real Redis: set REDIS_URL=redis://...")
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Tasks run in-process unless a test is marked `redis` and starts a real worker."""
    from shop.celery import app

    eager = "redis" not in request.keywords
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager or previous
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's default language: a German page request leaves German active in
    the thread (LocaleMiddleware activates, nothing deactivates), and a later command would print German."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (rate limits, cached pages)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _provider_breaker_reset(settings, monkeypatch):
    """Each test starts with the provider's circuit breaker closed and its failures forgotten
    (the breaker lives in the cache, which a Redis run shares with every process of the test).

    Its threshold is out of reach unless a test sets its own: many tests inject provider faults
    (timeouts, a dead provider) on purpose to test retries, which an open breaker would turn into
    503s. The breaker's own tests (tests/payments/test_breaker.py, tests/integration/test_provider_outage.py)
    set a small one. The environment variable carries it to worker processes a test starts.
    """
    from payments.breaker import breaker_reset

    settings.PROVIDER_BREAKER_THRESHOLD = 1000
    monkeypatch.setenv("PROVIDER_BREAKER_THRESHOLD", "1000")
    breaker_reset()
    yield
