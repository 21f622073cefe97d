"""The whole shopper journey in a real browser, in English/USD and in German/EUR:
a guest browses, searches, filters and fills a cart; signs up and verifies (the cart follows);
logs out, adds more as a guest, logs in (the carts merge); tops up the wallet; checks out with
the wallet; sees the paid order with its timeline."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import User
from payments.models import Wallet
from shop.cart.models import CartLine
from shop.orders.models import Order
from tests.e2e.journeys import (
    ADDRESS,
    add_to_cart_from_product_page,
    cart_row,
    checkout,
    log_in,
    log_out,
    open_wallet,
    sign_up,
    switch_currency,
    switch_language,
    wallet_deposit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Prices are in django-money's format for the language: "$79.00" in English, "79,00 €" in German.
# A few words on the journey, as the shopper reads them in each language.
TEXT = {
    "en": {"catalog": "Catalog", "add": "Add to cart", "cart": "Your cart", "timeline": "Timeline", "paid": "paid"},
    "de": {"catalog": "Sortiment", "add": "In den Warenkorb", "cart": "Ihr Warenkorb", "timeline": "Verlauf", "paid": "bezahlt"},
}
MONEY = {"USD": re.compile(r"\$|USD"), "EUR": re.compile(r"€|EUR")}



@pytest.mark.parametrize(("language", "currency"), [("en", "USD"), ("de", "EUR")], ids=["en-USD", "de-EUR"])
def test_guest_to_paid_order_journey(page, shot, mailbox, psp, shop_catalog, language, currency):
    cat = shop_catalog
    page.goto("/")
    if language != "en":
        switch_language(page, language)
    if currency != "USD":
        switch_currency(page, currency)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("nav.main-nav a[href='/']")).to_have_text(TEXT[language]["catalog"])
    shot(page, "home")

    # Browse a category.
    page.locator("a[href='/c/headphones/']").first.click()
    page.wait_for_load_state()
    expect(page.locator(".product-card")).to_have_count(2)
    expect(page.locator(".product-card .price").first).to_contain_text(MONEY[currency])
    shot(page, "category")

    # Search from the header.
    page.locator("header input[name=q]").fill("headphones")
    page.locator("header input[name=q]").press("Enter")
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/search/\?q=headphones"))
    expect(page.locator(".product-card")).to_have_count(2)
    shot(page, "search")

    # Filter by price (in the chosen currency): only the cheaper headphones remain.
    page.locator("aside.facets input[name=max_price]").fill("100")
    page.locator("aside.facets form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".product-card")).to_have_count(1)
    expect(page.locator(".product-card h3")).to_have_text(cat.aurora.name)
    shot(page, "filtered")

    # Product page, add to cart as a guest.
    page.locator(".product-card a").first.click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text(cat.aurora.name)
    expect(page.locator(".product-detail .price").first).to_contain_text(MONEY[currency])
    expect(page.locator("form[action='/cart/add/'] button")).to_have_text(TEXT[language]["add"])
    shot(page, "product")
    add_to_cart_from_product_page(page, cat.aurora.slug)
    expect(cart_row(page, cat.aurora)).to_be_visible()
    expect(page.locator("main h1")).to_have_text(TEXT[language]["cart"])
    shot(page, "guest-cart")

    # Sign up and verify: logged in, the guest cart is now the account's cart.
    email = f"journey-{language}@example.com"
    sign_up(page, shot, mailbox, email)
    user = User.objects.get(email=email)
    page.goto("/cart/")
    expect(cart_row(page, cat.aurora)).to_be_visible()
    expect(page.locator("select[name=currency]")).to_have_value(currency)  # the choice survives logging in
    assert list(CartLine.objects.filter(cart__user=user).values_list("product_id", flat=True)) == [cat.aurora.pk]

    # Log out, add another product as a guest, log in: the two carts merge.
    log_out(page)
    add_to_cart_from_product_page(page, cat.guide.slug)
    expect(cart_row(page, cat.aurora)).to_have_count(0)
    log_in(page, email)
    if page.locator("select[name=currency]").input_value() != currency:
        # Logging out flushes the session, where the currency lives (the language is a cookie).
        switch_currency(page, currency)
    page.goto("/cart/")
    expect(cart_row(page, cat.aurora)).to_be_visible()
    expect(cart_row(page, cat.guide)).to_be_visible()
    shot(page, "merged-cart")
    assert set(CartLine.objects.filter(cart__user=user).values_list("product_id", flat=True)) == {
        cat.aurora.pk,
        cat.guide.pk,
    }

    # Top up the wallet in the shop's currency.
    open_wallet(page, currency)
    wallet_deposit(page, currency, "500.00", token="tok_ok")
    expect(page.locator(".badge.ok")).to_be_visible()
    shot(page, "wallet-topped-up")
    wallet = Wallet.objects.get(user=user, currency=currency)
    assert wallet.balance == Decimal("500.00")

    # Check out with the wallet.
    checkout(page, shot, payment_method="wallet", new_address=ADDRESS)
    expect(page).to_have_url(re.compile(r"/orders/[^/]+/$"))
    order = Order.objects.get(user=user)
    assert order.status == Order.Status.PAID
    assert order.currency == currency
    assert order.payment_method == Order.PaymentMethod.WALLET
    assert sorted(order.lines.values_list("sku", flat=True)) == ["BK-DJANGO", "HP-AURORA"]
    expect(page.locator("h1")).to_contain_text(order.number)
    expect(page.get_by_role("heading", name=TEXT[language]["timeline"])).to_be_visible()
    expect(page.locator("ol.timeline li")).to_have_count(order.events.count())
    expect(page.locator("ol.timeline li strong").last).to_have_text(TEXT[language]["paid"])
    expect(page.locator("tfoot .price")).to_contain_text(MONEY[currency])
    shot(page, "order-paid")
    # The invoice is linked from the order and downloads as a PDF.
    invoice = order.invoices.get()
    link = page.locator(f"a[href='/orders/{order.number}/invoice/{invoice.number}.pdf']")
    expect(link).to_be_visible()
    download = page.request.get(link.get_attribute("href"))
    assert download.status == 200 and download.headers["content-type"] == "application/pdf"
    assert download.body().startswith(b"%PDF-")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("500.00") - order.total.amount
    assert not CartLine.objects.filter(cart__user=user).exists()

    page.goto("/orders/")
    expect(page.get_by_text(order.number)).to_be_visible()
    shot(page, "order-history")
    assert not page.js_errors, page.js_errors
