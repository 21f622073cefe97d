"""A verified shopper opens a wallet and tops it up by card: a decline changes nothing, a success credits it."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from payments.models import Payment, Wallet
from tests.e2e.journeys import log_in, open_wallet, wallet_deposit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_wallet_top_up_declined_then_succeeds(page, shot, psp, verified_user):
    user = verified_user()
    log_in(page, user.email)
    open_wallet(page, "USD")
    shot(page, "wallet-opened")
    wallet = Wallet.objects.get(user=user, currency="USD")

    wallet_deposit(page, "USD", "40.00", token="tok_declined")
    expect(page.locator(".badge.err")).to_be_visible()
    expect(page.get_by_text("The card was declined.")).to_be_visible()
    shot(page, "deposit-declined")
    wallet.refresh_from_db()
    assert wallet.balance == 0

    wallet_deposit(page, "USD", "40.00", token="tok_ok")
    expect(page.locator(".badge.ok")).to_be_visible()
    shot(page, "deposit-succeeded")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("40.00")
    assert list(Payment.objects.filter(user=user).order_by("id").values_list("status", flat=True)) == [
        Payment.Status.FAILED,
        Payment.Status.SUCCEEDED,
    ]

    page.goto("/wallet/")
    expect(page.locator("section.card .price").first).to_contain_text("40.00")
    shot(page, "wallet-balance")
    assert not page.js_errors, page.js_errors
