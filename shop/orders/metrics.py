"""The orders app's gauges for /metrics (shop.core.metrics), computed at each scrape."""

from shop.core.metrics import gauge_register
from shop.orders.models import OutboxEmail


def outbox_backlog() -> int:
    return OutboxEmail.objects.filter(sent_at__isnull=True).count()


def orders_metrics_register() -> None:
    gauge_register("shop_outbox_backlog", outbox_backlog, documentation="Outbox e-mails not sent yet.")
