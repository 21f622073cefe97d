"""Exchange rates: loading them, and what must follow when they change."""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.module_loading import import_string
from djmoney.contrib.exchange.models import ExchangeBackend

from catalog.cache import catalog_cache_invalidate
from catalog.services.facets import facet_counts_rebuild


def _rates_cache_clear() -> None:
    keys = [
        f"djmoney:get_rate:{source}:{target}:{import_string(settings.EXCHANGE_BACKEND).name}"
        for source in settings.CURRENCIES
        for target in settings.CURRENCIES
    ]
    cache.delete_many(keys)


def exchange_backend() -> ExchangeBackend:
    """The database row of the shop's exchange backend (created on first use), owner of every rate."""
    backend, _created = ExchangeBackend.objects.get_or_create(
        name=import_string(settings.EXCHANGE_BACKEND).name, defaults={"base_currency": settings.BASE_CURRENCY}
    )
    return backend


def exchange_rates_changed() -> None:
    """Make edited, added or deleted exchange rates take effect at once.

    Forgets djmoney's cached rates (now and again after commit, so no reader
    caches the old ones meanwhile), recounts the facet price slots (they follow
    the rates) and makes cached catalog pages stale. Every path that changes
    rates calls it: the rates file loader and the admin (edit, delete, bulk delete).
    """
    with transaction.atomic():
        _rates_cache_clear()
        transaction.on_commit(_rates_cache_clear)
        facet_counts_rebuild()
        catalog_cache_invalidate()


def exchange_rates_load() -> None:
    """Load the exchange rates file into djmoney's rate tables."""
    with transaction.atomic():
        import_string(settings.EXCHANGE_BACKEND)().update_rates(base_currency=settings.BASE_CURRENCY)
        exchange_rates_changed()
