"""Fixtures for the API fuzz run (tests/edges/test_schema_all_checks.py): a verified, funded shopper with an app session token."""

import json

import pytest
from django.test import Client

from payments.models import Wallet
from shop.cart.models import CartLine
from tests.accounts.factories import PASSWORD
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere


@pytest.fixture
def shopper_world(db, settings):
    """A verified shopper (wallet with 1000.00 USD, an address, a cart line, a paid order) and their token."""
    from catalog.services.prices import exchange_rates_load
    from shop.orders.services.checkout import order_place

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
    exchange_rates_load()
    user = shopper_new(funds="1000.00")
    product = make_product(price="10.00", on_hand=1000)
    cart_fill(user, (product, 1))
    order = order_place(
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD"
    ).order
    cart_fill(user, (product, 2))
    response = Client().post(
        "/_allauth/app/v1/auth/login",
        data=json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    path_parameters = {
        "wallet_id": Wallet.objects.get(user=user, currency="USD").pk,
        "payment_id": order.payment_id,
        "number": order.number,
        "slug": product.slug,
        "id": user.addresses.first().pk,
        "line_id": CartLine.objects.get(cart__user=user).pk,
    }
    return {
        "user": user,
        "product": product,
        "order": order,
        "token": response.json()["meta"]["session_token"],
        "path_parameters": path_parameters,
    }
