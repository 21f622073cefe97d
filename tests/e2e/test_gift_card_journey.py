"""A shopper pays partly by gift card in the browser: a wrong code is a form error, the right one lowers the
total, the wallet pays the rest, and the order page shows the card and what it paid."""

import re
import uuid
from decimal import Decimal

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from payments.models import GiftCard, Wallet
from payments.services.gift_cards import gift_card_issue
from shop.orders.models import Order
from tests.e2e.journeys import ADDRESS, add_to_cart_from_product_page, checkout, log_in
from tests.payments.fixtures import wallet_with_balance

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_shopper_pays_partly_by_gift_card_and_sees_it_on_the_order(page, shot, shop_catalog, verified_user):
    user = verified_user("gift.e2e@example.com")
    wallet_with_balance(user, "100.00")
    issued = gift_card_issue(
        amount=Money(Decimal("10.00"), "USD"),
        source=GiftCard.Source.STAFF,
        issue_reference=f"e2e:{uuid.uuid4()}",
    )
    log_in(page, user.email)
    add_to_cart_from_product_page(page, shop_catalog.guide.slug)  # 25.00
    shot(page, "cart")

    form = page.locator("form[action='/cart/gift-cards/']")
    form.get_by_label("Gift card code").fill("WRONG-CODE-0000-0000-0000")
    form.locator("button[type=submit]").click()
    error = page.locator("#gift-card-code_error")
    expect(error).to_contain_text("This gift card code is not valid.")
    shot(page, "gift-card-wrong-code")

    form = page.locator("form[action='/cart/gift-cards/']")
    form.get_by_label("Gift card code").fill(issued.code)
    form.locator("button[type=submit]").click()
    breakdown = page.locator("table.price-breakdown")
    expect(breakdown.locator("tr.gift-card")).to_contain_text(f"···{issued.card.last4}")
    expect(breakdown.locator("tr.gift-card")).to_contain_text("10.00")
    expect(breakdown.locator("tfoot")).to_contain_text("15.00")
    shot(page, "gift-card-applied")

    checkout(page, shot, payment_method="wallet", new_address=ADDRESS)
    expect(page).to_have_url(re.compile(r"/orders/[^/]+/$"))
    order = Order.objects.get(user=user)
    assert order.status == Order.Status.PAID
    assert (order.gift_card_total, order.total) == (Money("10.00", "USD"), Money("15.00", "USD"))
    expect(page.locator("h1")).to_contain_text(order.number)
    gift_row = page.locator("table.price-breakdown tr.gift-card")
    expect(gift_row).to_contain_text(f"···{issued.card.last4}")
    expect(gift_row).to_contain_text("10.00")
    expect(page.locator("table.price-breakdown tfoot")).to_contain_text("15.00")
    expect(page.locator(".gift-card-paid")).to_contain_text(f"···{issued.card.last4}: $10.00")
    shot(page, "order-paid-by-gift-card-and-wallet")
    assert GiftCard.objects.get(pk=issued.card.pk).balance == Decimal("0.00")
    assert Wallet.objects.get(user=user, currency="USD").balance == Decimal("85.00")
    assert issued.code not in page.content()
    assert not page.js_errors, page.js_errors
