"""Vouchers and promotions for pricing tests."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from shop.pricing.models import DiscountKind, Voucher, VoucherAmount


def make_voucher(
    code: str = "SAVE10",
    *,
    kind: str = DiscountKind.PERCENTAGE,
    percentage: str | None = "10",
    usage_limit: int | None = None,
    per_customer_limit: int | None = None,
    starts_in: timedelta = -timedelta(days=1),
    ends_in: timedelta | None = timedelta(days=30),
    amounts: dict[str, tuple[str | None, str | None]] | None = None,
    is_active: bool = True,
) -> Voucher:
    """A voucher valid from `starts_in` to `ends_in` (relative to now); amounts: currency -> (off, minimum)."""
    now = timezone.now()
    voucher = Voucher.objects.create(
        code=code,
        kind=kind,
        percentage=Decimal(percentage) if percentage and kind == DiscountKind.PERCENTAGE else None,
        usage_limit=usage_limit,
        per_customer_limit=per_customer_limit,
        starts_at=now + starts_in,
        ends_at=now + ends_in if ends_in is not None else None,
        is_active=is_active,
    )
    for currency, (off, minimum) in (amounts or {}).items():
        VoucherAmount.objects.create(
            voucher=voucher,
            currency=currency,
            amount=Decimal(off) if off else None,
            minimum_spend=Decimal(minimum) if minimum else None,
        )
    return voucher
