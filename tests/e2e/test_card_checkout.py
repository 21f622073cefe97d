"""Card checkout in the browser: a declined card cancels that order and frees the stock; the next card pays."""

import re

import pytest
from playwright.sync_api import expect

from catalog.models import Stock
from payments.models import Payment
from payments.psp_sandbox.models import SandboxCharge
from shop.orders.models import Order
from tests.e2e.journeys import ADDRESS, add_to_cart_from_product_page, checkout, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_card_checkout_declined_then_paid(page, shot, psp, shop_catalog, verified_user):
    cat = shop_catalog
    user = verified_user("carol.e2e@example.com")
    log_in(page, user.email)
    add_to_cart_from_product_page(page, cat.nimbus.slug, quantity=2)
    shot(page, "cart")

    checkout(page, shot, payment_method="card", card_token="tok_declined", new_address=ADDRESS)
    # Back on the payment step, told why; nothing charged, nothing held.
    expect(page).to_have_url(re.compile(r"/orders/checkout/payment/$"))
    expect(page.locator(".messages .message.error")).to_be_visible()
    shot(page, "declined")
    declined = Order.objects.get(user=user)
    assert declined.status == Order.Status.CANCELLED
    assert Payment.objects.get(reference=declined.number).status == Payment.Status.FAILED
    stock = Stock.objects.get(product=cat.nimbus)
    assert (stock.on_hand, stock.reserved) == (5, 0)

    checkout(page, shot, payment_method="card", card_token="tok_ok", new_address=ADDRESS)
    expect(page).to_have_url(re.compile(r"/orders/[^/]+/$"))
    paid = Order.objects.exclude(pk=declined.pk).get(user=user)
    assert paid.status == Order.Status.PAID
    expect(page.locator("h1")).to_contain_text(paid.number)
    expect(page.locator("ol.timeline li strong").last).to_have_text("paid")
    shot(page, "paid")
    payment = Payment.objects.get(reference=paid.number)
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key, status="succeeded").count() == 1
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 0)
    assert not page.js_errors, page.js_errors
