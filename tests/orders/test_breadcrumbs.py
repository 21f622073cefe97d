"""Cart, checkout and account pages carry the breadcrumb trail (the design system's component), each
ending at the page itself; every step above it is a link."""

import re

import pytest
from django.test import Client

from payments.models import Wallet
from shop.orders.models import Order
from tests.orders.factories import cart_fill
from tests.orders.helpers import go_to_review

pytestmark = pytest.mark.django_db


def _trail(html: str) -> list[tuple[str, str]]:
    """(name, href or "" for the current page) of each breadcrumb, Home first."""
    nav = re.search(r'<nav class="breadcrumbs".*?</nav>', html, re.S)
    assert nav, "no breadcrumbs on the page"
    return [
        (name.strip(), href or "")
        for href, name in re.findall(r'<li>(?:<a href="([^"]*)">|<span aria-current="page">)([^<]+)<', nav.group(0))
    ]


def _names(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    trail = _trail(response.content.decode())
    assert all(href for _name, href in trail[:-1]) and trail[-1][1] == "", trail  # links, then the page itself
    return [name for name, _href in trail]


def test_cart_checkout_and_account_pages_show_where_the_shopper_is(shopper, product, rates):
    browser = Client()
    browser.force_login(shopper)
    assert _names(browser, "/cart/") == ["Home", "Your cart"]
    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    for url in ("/orders/checkout/", "/orders/checkout/payment/", "/orders/checkout/review/"):
        assert _names(browser, url) == ["Home", "Your cart", "Checkout"], url
    browser.post("/orders/checkout/place/", form)
    order = Order.objects.get()
    account = ["Home", "Your account"]
    assert _names(browser, "/account/") == account
    assert _names(browser, "/orders/") == [*account, "Your orders"]
    assert _names(browser, f"/orders/{order.number}/") == [*account, "Your orders", f"Order {order.number}"]
    assert _names(browser, "/account/addresses/") == [*account, "Your addresses"]
    assert _names(browser, "/account/addresses/new/") == [*account, "Your addresses", "New address"]
    assert _names(browser, "/account/delete/") == [*account, "Erase your account"]
    assert _names(browser, "/wallet/") == [*account, "Wallet"]
    wallet = Wallet.objects.get(user=shopper)
    assert _names(browser, f"/wallet/{wallet.pk}/statement/") == [*account, "Wallet", "Statement"]
    assert _names(browser, f"/wallet/{wallet.pk}/deposit/") == [*account, "Wallet", "Deposit"]
    assert _names(browser, "/wishlist/") == [*account, "Your wishlist"]
