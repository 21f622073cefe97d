"""Voucher redemption and release: the only code that changes a voucher's `uses`.

A redemption counts one use with one guarded statement,

    UPDATE pricing_voucher SET uses = uses + 1
     WHERE id = %s AND (usage_limit IS NULL OR uses < usage_limit)

so a code with one use left that many checkouts redeem at the same moment is
counted once: the others' UPDATE waits for the first one's row lock, then
re-reads the row, finds no use left and matches nothing (VoucherExhausted).
The per-customer limit is checked after that UPDATE, while its row lock
serialises every redemption of the voucher. A release (cancelled or fully
refunded order) gives the use back exactly once: it stamps `released_at`
with a guarded UPDATE and only the caller that stamped it decrements `uses`.

Lock order: the voucher row only. Call inside the checkout's transaction so
that a failed checkout rolls the use back with everything else.
"""

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.pricing.exceptions import VoucherCustomerLimit, VoucherExhausted
from shop.pricing.models import Voucher, VoucherRedemption
from shop.pricing.selectors import voucher_get_usable


def voucher_redeem(*, code: str, reference: str, user=None, email: str = "", now=None) -> VoucherRedemption:
    """Count one use of a voucher for the order `reference`; idempotent per (voucher, reference).

    Refuses with VoucherInvalid/VoucherExpired/VoucherExhausted (the code) or
    VoucherCustomerLimit (this customer, by account or e-mail). Takes the
    voucher row lock until the surrounding transaction ends.
    """
    email = (email or (user.email if user is not None else "")).strip()
    if user is None and not email:
        raise ValueError("a redemption needs a customer account or an e-mail address")
    with transaction.atomic():
        existing = VoucherRedemption.objects.filter(
            voucher__code__iexact=code.strip(), reference=reference, released_at=None
        ).first()
        if existing is not None:
            return existing
        voucher = voucher_get_usable(code=code, now=now)
        if not _voucher_use_take(voucher.pk):
            raise VoucherExhausted(field="code")
        if voucher.per_customer_limit is not None:
            _voucher_customer_check(voucher, user=user, email=email)
        return VoucherRedemption.objects.create(voucher=voucher, user=user, email=email, reference=reference)


def _voucher_use_take(voucher_id: int) -> bool:
    """The guarded increment: True when a use was left and is now taken."""
    table = connection.ops.quote_name(Voucher._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET uses = uses + 1 "  # noqa: S608 (table name from the model, values bound)
            "WHERE id = %s AND (usage_limit IS NULL OR uses < usage_limit)",
            [voucher_id],
        )
        return cursor.rowcount == 1


def _voucher_customer_check(voucher: Voucher, *, user, email: str) -> None:
    """Raise VoucherCustomerLimit when this customer's unreleased redemptions reach the voucher's limit.

    Runs after the guarded UPDATE, whose row lock serialises concurrent
    redemptions of the voucher, so the count below sees every committed one.
    Raising undoes the increment with the transaction.
    """
    customer = Q(email__iexact=email) if email else Q(pk__in=[])
    if user is not None:
        customer |= Q(user=user)
    used = VoucherRedemption.objects.filter(customer, voucher=voucher, released_at=None).count()
    if used >= voucher.per_customer_limit:
        raise VoucherCustomerLimit(field="code")


def voucher_redemption_release(*, reference: str) -> int:
    """Give back the uses of every unreleased redemption of order `reference`; returns how many.

    Safe to call again (cancel, then a full refund): a redemption is released
    once, by whichever caller stamps `released_at` first.
    """
    released = 0
    with transaction.atomic():
        for redemption in VoucherRedemption.objects.filter(reference=reference, released_at=None):
            stamped = VoucherRedemption.objects.filter(pk=redemption.pk, released_at=None).update(
                released_at=timezone.now()
            )
            if stamped:
                Voucher.objects.filter(pk=redemption.voucher_id, uses__gt=0).update(uses=F("uses") - 1)
                released += stamped
    return released
