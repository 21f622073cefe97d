"""What every provider call shares: the amount check, the attempt record, the call lease and the retry backoff."""

import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from djmoney.money import Money

from payments.exceptions import (
    InvalidAmount,
    UnsupportedCurrency,
)
from payments.models import (
    PaymentAttempt,
)
from shop.core.money import minor_unit_quantum

RETRY_MAX_SECONDS = 3600


def amount_check(amount: Money) -> None:
    """Refuse an amount in a currency the shop does not take, not positive, or finer than its minor unit."""
    currency = amount.currency.code
    if currency not in settings.CURRENCIES:
        raise UnsupportedCurrency(field="amount")
    value = amount.amount
    if not value.is_finite() or value <= 0 or value != value.quantize(minor_unit_quantum(currency)):
        raise InvalidAmount(field="amount")


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: PAYMENT_RETRY_BASE_SECONDS (30 s) * 2^(n-1), capped at
    RETRY_MAX_SECONDS, then half to all of it.

    The cap is what keeps an unknown payment, payout or refund being looked up
    (at most hourly) however many attempts it has had.
    """
    ceiling = min(
        settings.PAYMENT_RETRY_BASE_SECONDS * (2 ** min(max(attempt - 1, 0), 16)), RETRY_MAX_SECONDS
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto


def call_lease() -> timedelta:
    """How long a claimed payment stays out of the retry sweep while a provider call runs."""
    return timedelta(seconds=settings.PAYMENT_CONNECT_TIMEOUT + settings.PAYMENT_READ_TIMEOUT + 30)


def attempt_record(*, kind: str, result, payment=None, refund=None, withdrawal=None) -> PaymentAttempt:
    """Record one provider call (append-only) for a payment, refund or payout."""
    return PaymentAttempt.objects.create(
        payment=payment,
        refund=refund,
        withdrawal=withdrawal,
        kind=kind,
        outcome=result.outcome,
        status_code=result.status_code,
        request=result.request or {},
        response=result.response or {},
        error_code=result.error_code or "",
        error=result.error or "",
        latency_ms=int(result.latency_ms or 0),
    )


def round_claim(row) -> None:
    """Count a retry round on a locked payment, payout or refund and lease it past one provider call."""
    row.attempt_count += 1
    row.next_retry_at = timezone.now() + call_lease()
    row.save(update_fields=["attempt_count", "next_retry_at", "updated_at"])
