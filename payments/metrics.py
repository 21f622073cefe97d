"""The payments app's gauges for /metrics (shop.core.metrics), computed at each scrape."""

from django.db.models import Count, Min
from django.utils import timezone

from payments.breaker import BreakerState, breaker_state
from payments.models import Payment, ReconciliationItem
from shop.core.metrics import gauge_register


def payments_by_status() -> dict[tuple[str], int]:
    """How many payments are in each status (every status listed, 0 included)."""
    counts = dict(Payment.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {(status,): counts.get(status, 0) for status in Payment.Status.values}


def payment_unknown_oldest_age() -> float:
    """Seconds since the oldest payment still in `unknown` was made (0 when none is)."""
    oldest = Payment.objects.filter(status=Payment.Status.UNKNOWN).aggregate(oldest=Min("created_at"))["oldest"]
    return (timezone.now() - oldest).total_seconds() if oldest else 0.0


def reconciliation_findings_open() -> int:
    return ReconciliationItem.objects.filter(resolved=False).count()


def provider_breaker_open() -> int:
    """1 while the provider's circuit breaker refuses calls (open or half-open), 0 when closed."""
    return 0 if breaker_state() == BreakerState.CLOSED else 1


def payments_metrics_register() -> None:
    gauge_register(
        "shop_payments", payments_by_status, documentation="Payments by status.", labelnames=("status",)
    )
    gauge_register(
        "shop_payment_unknown_oldest_age_seconds",
        payment_unknown_oldest_age,
        documentation="Age of the oldest payment whose outcome is unknown (0: none).",
    )
    gauge_register(
        "shop_reconciliation_findings_open",
        reconciliation_findings_open,
        documentation="Reconciliation findings not resolved by staff yet.",
    )
    gauge_register(
        "shop_provider_breaker_open",
        provider_breaker_open,
        documentation="1 while the payment provider's circuit breaker is open or half-open.",
    )
