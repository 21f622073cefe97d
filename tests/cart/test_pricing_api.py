"""The cart's price breakdown, its voucher, and the shipping methods for it: API and page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from djmoney.money import Money

from payments.models import GiftCard
from payments.services.gift_cards import gift_card_issue
from shop.cart.models import Cart
from shop.pricing.models import TaxClass, TaxRate
from tests.orders.factories import cart_fill, make_product
from tests.pricing.factories import make_voucher
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = pytest.mark.django_db
USD = lambda amount: {"amount": amount, "currency": "USD"}  # noqa: E731


@pytest.fixture
def germany(db):
    """Standard (4.90) and express (9.90) to Germany; German standard VAT 19 %."""
    TaxRate.objects.create(country="DE", tax_class=TaxClass.STANDARD, rate=Decimal("19"))
    zone = ZoneFactory(countries=["DE"])
    standard = MethodFactory(name="Standard", zones=[zone], min_delivery_days=2, max_delivery_days=4)
    price_add(standard, "USD", price="4.90")
    express = MethodFactory(name="Express", zones=[zone], min_delivery_days=1, max_delivery_days=1)
    price_add(express, "USD", price="9.90")
    return standard, express


def test_the_cart_shows_its_breakdown_for_the_default_address(api, shopper, product, germany):
    standard, express = germany
    cart_fill(shopper, (product, 2))
    body = api.get("/api/v1/cart/").json()
    assert body["subtotal"] == USD("20.00")
    assert body["discounts"] == [] and body["gift_cards"] == []
    assert body["shipping"]["method"] == standard.pk and body["shipping"]["price"] == USD("4.90")
    assert body["total"] == USD("24.90")
    # 20.00 gross: net 16.81, tax 3.19; shipping 4.90 gross: net 4.12, tax 0.78.
    assert [(row["rate"], row["net"], row["tax"]) for row in body["tax"]] == [("19.00", USD("20.93"), USD("3.97"))]
    chosen = api.get(f"/api/v1/cart/?shipping_method={express.pk}").json()
    assert chosen["shipping"]["name"] == "Express" and chosen["total"] == USD("29.90")
    elsewhere = api.get("/api/v1/cart/?country=US").json()
    assert elsewhere["shipping"] is None and elsewhere["total"] == USD("20.00")
    assert [(row["rate"], row["tax"]) for row in elsewhere["tax"]] == [("0.00", USD("0.00"))]  # no US rate here


def test_a_voucher_is_applied_shown_and_removed(api, shopper, product, germany):
    make_voucher("SAVE10", percentage="10")
    cart_fill(shopper, (product, 2))
    applied = api.post("/api/v1/cart/voucher/", {"code": "save10"}, format="json")
    assert applied.status_code == 200, applied.content
    body = applied.json()
    assert body["voucher"] == "SAVE10"
    assert body["discounts"] == [{"source": "voucher", "code": "SAVE10", "amount": USD("2.00")}]
    assert body["total"] == USD("22.90")
    removed = api.delete("/api/v1/cart/voucher/")
    assert removed.status_code == 200 and removed.json()["voucher"] == "" and removed.json()["discounts"] == []
    assert Cart.objects.get(user=shopper).voucher_code == ""


@pytest.mark.parametrize(
    "voucher, code",
    [
        ({}, "voucher_invalid"),
        ({"is_active": False}, "voucher_invalid"),
        ({"ends_in": -timedelta(hours=1), "starts_in": -timedelta(days=2)}, "voucher_expired"),
        ({"usage_limit": 0}, "voucher_exhausted"),
        ({"amounts": {"USD": (None, "50.00")}}, "voucher_min_spend"),
    ],
)
def test_a_voucher_that_cannot_be_used_is_400_and_leaves_the_cart(api, shopper, product, voucher, code):
    if voucher:
        make_voucher("CODE", **voucher)
    cart_fill(shopper, (product, 2))
    response = api.post("/api/v1/cart/voucher/", {"code": "CODE"}, format="json")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, "code")
    assert Cart.objects.get(user=shopper).voucher_code == ""


def test_a_voucher_that_stops_working_stays_on_the_cart_and_is_reported(api, shopper, product):
    voucher = make_voucher("SAVE10", percentage="10")
    cart_fill(shopper, (product, 2))
    assert api.post("/api/v1/cart/voucher/", {"code": "SAVE10"}, format="json").status_code == 200
    voucher.is_active = False
    voucher.save()
    body = api.get("/api/v1/cart/").json()
    assert body["voucher_error"]["code"] == "voucher_invalid" and body["discounts"] == []
    assert body["total"] == body["subtotal"]


def test_shipping_methods_for_the_cart_and_a_country(api, shopper, product, germany):
    standard, express = germany
    cart_fill(shopper, (product, 1))
    response = api.get("/api/v1/shipping-methods/?country=de")
    assert response.status_code == 200
    assert response.json() == [
        {"id": standard.pk, "name": "Standard", "carrier": standard.carrier.name, "price": USD("4.90"),
         "delivery_days": {"min": 2, "max": 4}},
        {"id": express.pk, "name": "Express", "carrier": express.carrier.name, "price": USD("9.90"),
         "delivery_days": {"min": 1, "max": 1}},
    ]
    assert api.get("/api/v1/shipping-methods/?country=US").json() == []
    missing = api.get("/api/v1/shipping-methods/")
    assert missing.status_code == 400 and missing.json()["field"] == "country"


def test_the_cart_page_applies_a_voucher_and_shows_the_breakdown(shopper, product, germany):
    make_voucher("SAVE10", percentage="10")
    cart_fill(shopper, (product, 2))
    browser = Client()
    browser.force_login(shopper)
    bad = browser.post("/cart/voucher/", {"code": "NOPE"})
    assert bad.status_code == 302
    assert Cart.objects.get(user=shopper).voucher_code == ""
    assert browser.post("/cart/voucher/", {"code": "SAVE10"}).status_code == 302
    page = browser.get("/cart/").content.decode()
    assert "SAVE10" in page and "price-breakdown" in page and "Standard" in page
    assert browser.post("/cart/voucher/remove/").status_code == 302
    assert Cart.objects.get(user=shopper).voucher_code == ""


def test_adding_a_line_answers_what_the_cart_then_shows(api, shopper, product, germany):
    """The POST's answer is the cart a following GET shows: same lines, voucher, gift card, shipping, tax, total."""
    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 1))
    assert api.post("/api/v1/cart/voucher/", {"code": "TENOFF"}, format="json").status_code == 200
    card = gift_card_issue(amount=Money(Decimal("5.00"), "USD"), source=GiftCard.Source.STAFF, issue_reference="t:1")
    assert api.post("/api/v1/cart/gift-cards/", {"code": card.code}, format="json").status_code == 200
    added = api.post("/api/v1/cart/lines/", {"product": make_product(price="7.00").id, "quantity": 2}, format="json")
    assert added.status_code == 201, added.content
    body = added.json()
    assert body == api.get("/api/v1/cart/").json()
    assert body["voucher"] == "TENOFF" and body["gift_cards"][0]["amount"] == USD("5.00")
    assert body["shipping"]["price"] == USD("4.90") and body["tax"][0]["rate"] == "19.00"
    assert body["total"] == USD("21.50")  # 24.00 - 2.40 + 4.90 - 5.00
