"""The catalog's gauges for /metrics (shop.core.metrics), computed at each scrape."""

from catalog.models import StockReservation
from shop.core.metrics import gauge_register


def reservations_active() -> int:
    return StockReservation.objects.filter(status=StockReservation.Status.OPEN).count()


def catalog_metrics_register() -> None:
    gauge_register(
        "shop_reservations_active", reservations_active, documentation="Open stock reservations (unpaid checkouts)."
    )
