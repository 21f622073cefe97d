"""An address a signed-in shopper types in at checkout joins the address book once, and is offered next time."""

import re
import uuid

import pytest
from django.test import Client

from accounts.models import Address
from tests.orders.factories import cart_fill, shopper_new
from tests.orders.helpers import place_order_form
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

NEW = {
    "full_name": "Ann Example",
    "line1": "Rue de Rivoli 1",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


def api_checkout(api, shipping_address):
    body = {
        "payment_method": "wallet",
        "shipping_method": shipping_method_everywhere(),
        "shipping_address": shipping_address,
    }
    return api.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": str(uuid.uuid4())})


def test_an_address_typed_in_through_the_api_is_saved_once(api, shopper, product):
    before = Address.objects.filter(user=shopper).count()
    cart_fill(shopper, (product, 1))
    assert api_checkout(api, NEW).status_code == 201
    cart_fill(shopper, (product, 1))
    # The same address again, typed differently: no second copy.
    again = {**NEW, "full_name": " ann  example ", "city": "PARIS", "country": "fr"}
    assert api_checkout(api, again).status_code == 201
    saved = Address.objects.filter(user=shopper).exclude(pk=shopper.addresses.order_by("id").first().pk)
    assert Address.objects.filter(user=shopper).count() == before + 1
    assert saved.get().as_snapshot() == {**NEW, "line2": "", "region": "", "phone": ""}


def test_a_refused_checkout_saves_no_address(api, shopper, product):
    before = Address.objects.filter(user=shopper).count()
    cart_fill(shopper, (product, 1))
    response = api_checkout(api, {**NEW, "postal_code": "7500"})
    assert response.status_code == 400
    assert response.json()["field"] == "shipping_address.postal_code"
    assert Address.objects.filter(user=shopper).count() == before


def test_the_checkout_page_saves_a_new_address_and_offers_it_next_time(product):
    shopper = shopper_new(address=False)
    browser = Client()
    browser.force_login(shopper)
    cart_fill(shopper, (product, 1))
    assert browser.post("/orders/checkout/", NEW)["Location"] == "/orders/checkout/payment/"
    browser.post(
        "/orders/checkout/payment/",
        {"shipping_method": shipping_method_everywhere(), "payment_method": "wallet"},
    )
    form = place_order_form(browser.get("/orders/checkout/review/").content.decode())
    assert browser.post("/orders/checkout/place/", form).status_code == 302
    saved = Address.objects.get(user=shopper)
    assert saved.postal_code == "75001" and saved.is_default_shipping
    cart_fill(shopper, (product, 1))
    page = browser.get("/orders/checkout/").content.decode()
    assert f'value="{saved.pk}"' in page and "Rue de Rivoli 1" in page
    assert re.search(
        rf'<input type="radio" name="address" value="{saved.pk}"[^>]*checked', page
    )  # chosen already
