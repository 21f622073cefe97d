"""Helpers for guest-checkout tests: a guest's browser session with a cart, and guest orders."""

import uuid

from djmoney.money import Money
from rest_framework.test import APIClient

from shop.orders.models import Order, order_number_new
from tests.shipping.factories import shipping_method_everywhere

ADDRESS_DE = {
    "full_name": "Ann Example",
    "line1": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def guest_with_cart(*items) -> APIClient:
    """A client without an account whose session cart holds (product, quantity) pairs, added through the page."""
    client = APIClient()
    for product, quantity in items:
        response = client.post(
            "/cart/add/", {"product": product.id, "quantity": quantity}, format="multipart"
        )
        assert response.status_code == 302, response.content
    assert client.session.get("cart"), "the session cart is empty"
    return client


def guest_order(email: str = "ann@example.com", **fields) -> Order:
    """A guest's placed order as checkout stores it (no user), without going through a payment."""
    values = {
        "number": order_number_new(),
        "user": None,
        "email": email,
        "currency": "USD",
        "total": Money("10.00", "USD"),
        "subtotal": Money("10.00", "USD"),
        "payment_method": Order.PaymentMethod.CARD,
        "shipping_address": ADDRESS_DE,
        **fields,
    }
    return Order.objects.create(**values)


def guest_checkout(client, *, key=None, **changes):
    """A guest's API checkout, by card to a German address, with `changes` to the body."""
    body = {
        "email": "ann@example.com",
        "payment_method": "card",
        "card_token": "tok_ok",
        "shipping_address": ADDRESS_DE,
        "shipping_method": shipping_method_everywhere(),
        **changes,
    }
    return client.post(
        "/api/v1/orders/", body, format="json", headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )
