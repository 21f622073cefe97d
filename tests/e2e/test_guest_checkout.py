"""A guest (no account) buys with a voucher and a card, opens the invoice from the order's signed page,
and finds the order again with its number and e-mail; at desktop and phone size, axe on every page."""

import re

import pytest
from playwright.sync_api import expect

from payments.models import Payment
from shop.orders.models import Order
from tests.e2e.journeys import ADDRESS, add_to_cart_from_product_page, address_fill
from tests.pricing.factories import make_voucher

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_guest_buys_with_a_voucher_and_a_card_and_opens_the_invoice(
    new_page, shot, psp, shop_catalog, phone
):
    make_voucher("WELCOME10", percentage="10")
    page = new_page(phone=phone)
    add_to_cart_from_product_page(page, shop_catalog.guide.slug, quantity=2)
    page.locator("#voucher-code").fill("WELCOME10")
    page.locator("form[action='/cart/voucher/'] button[type=submit]").click()
    expect(page.get_by_text("Voucher WELCOME10 applied.").first).to_be_visible()
    shot(page, "cart-with-voucher")

    page.locator("a[href='/orders/checkout/']").click()
    page.wait_for_load_state()
    expect(page.locator("input[name=email]")).to_be_visible()
    expect(page.locator("input[name=address]")).to_have_count(0)  # a guest has no address book
    page.locator("input[name=email]").fill("guest.e2e@example.com")
    address_fill(page, {**ADDRESS, "postal_code": "1011"})
    page.locator("main form.card button[type=submit]").click()
    expect(page.locator("#id_postal_code_error")).to_contain_text("five digits")
    shot(page, "checkout-address-bad-postal-code")
    page.locator("main form input[name=postal_code]").fill("10115")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()

    expect(page.locator("input[name=payment_method][value=wallet]")).to_have_count(0)  # card only
    page.locator("input[name=payment_method][value=card]").check()
    page.locator("select[name=card_token]").select_option("tok_ok")
    shot(page, "checkout-payment")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    place = page.locator("form[action='/orders/checkout/place/'] button[type=submit]")
    expect(place).to_be_visible()
    shot(page, "checkout-review")
    place.click()
    page.wait_for_load_state()

    expect(page).to_have_url(re.compile(r"/orders/guest/[^/]+/$"))
    order = Order.objects.get()
    assert (order.user, order.email, order.status) == (None, "guest.e2e@example.com", Order.Status.PAID)
    assert order.voucher_code == "WELCOME10" and order.voucher_discount.amount > 0
    assert Payment.objects.get(reference=order.number).amount == order.total
    expect(page.locator("h1")).to_contain_text(order.number)
    shot(page, "guest-order")
    invoice = order.invoices.get()
    with page.expect_download() as download:
        page.locator(f"a[href$='/invoice/{invoice.number}.pdf']").click()
    assert download.value.suggested_filename == invoice.filename
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    # Later, from another browser: the number and the e-mail open it again.
    other = new_page(phone=phone)
    other.goto("/orders/find/")
    shot(other, "find-order")
    other.locator("input[name=number]").fill(order.number)
    other.locator("input[name=email]").fill("GUEST.E2E@example.com")
    other.locator("main form button[type=submit]").click()
    other.wait_for_load_state()
    expect(other).to_have_url(re.compile(r"/orders/guest/[^/]+/$"))
    expect(other.locator("h1")).to_contain_text(order.number)
    shot(other, "found-order")
    assert not page.js_errors and not other.js_errors, (page.js_errors, other.js_errors)
