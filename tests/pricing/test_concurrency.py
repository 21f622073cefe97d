"""Real concurrent transactions on PostgreSQL: a voucher's last use is redeemed once."""

import pytest

from shop.pricing.exceptions import VoucherCustomerLimit, VoucherExhausted
from shop.pricing.models import Voucher, VoucherRedemption
from shop.pricing.services.vouchers import voucher_redeem
from tests.payments.test_concurrency import run_at_once
from tests.pricing.factories import make_voucher

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_checkouts_redeeming_the_last_use_at_once_get_exactly_one():
    voucher = make_voucher("LASTONE", usage_limit=5)
    Voucher.objects.filter(pk=voucher.pk).update(uses=4)

    results = run_at_once(
        20, lambda i: voucher_redeem(code="lastone", reference=f"order-{i}", email=f"shopper{i}@example.com")
    )

    redeemed = [r for r in results if isinstance(r, VoucherRedemption)]
    exhausted = [r for r in results if isinstance(r, VoucherExhausted)]
    assert len(redeemed) == 1, results
    assert len(exhausted) == 19, results
    voucher.refresh_from_db()
    assert voucher.uses == 5
    assert VoucherRedemption.objects.filter(voucher=voucher).count() == 1


def test_one_customer_racing_ten_orders_gets_the_per_customer_limit_only():
    voucher = make_voucher("ONEEACH", usage_limit=100, per_customer_limit=2)

    results = run_at_once(
        10, lambda i: voucher_redeem(code="ONEEACH", reference=f"order-{i}", email="same@example.com")
    )

    assert len([r for r in results if isinstance(r, VoucherRedemption)]) == 2, results
    assert len([r for r in results if isinstance(r, VoucherCustomerLimit)]) == 8, results
    voucher.refresh_from_db()
    assert voucher.uses == 2
