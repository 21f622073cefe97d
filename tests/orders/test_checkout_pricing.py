"""Checkout prices the order with the pipeline and a chosen shipping method, and keeps every component."""

import uuid
from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog.models import StockReservation
from payments.models import Payment, Wallet
from shop.cart.models import Cart
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from shop.orders.services.transitions import order_cancel
from shop.pricing.models import TaxClass, TaxRate, Voucher
from shop.shipping.exceptions import ShippingMethodRequired, ShippingMethodUnavailable, ShippingUnavailable
from shop.shipping.models import ShippingMethod
from tests.orders.factories import cart_fill
from tests.pricing.factories import make_voucher
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def germany_standard():
    """A 4.90 USD flat method serving Germany, and the German standard VAT rate (19 %)."""
    TaxRate.objects.create(country="DE", tax_class=TaxClass.STANDARD, rate=Decimal("19"))
    method = MethodFactory(name="Standard", zones=[ZoneFactory(countries=["DE"])])
    price_add(method, "USD", price="4.90")
    return method


def place(user, method_id, **kwargs):
    kwargs.setdefault("shipping_address", user.addresses.first().pk)
    return order_place(user=user, payment_method="wallet", currency="USD", shipping_method=method_id, **kwargs)


def test_the_order_keeps_every_component_and_the_wallet_pays_its_total(shopper, product, germany_standard):
    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 2))  # 2 x 10.00
    assert Cart.objects.filter(user=shopper).update(voucher_code="tenoff") == 1
    order = place(shopper, germany_standard.pk).order
    order.refresh_from_db()
    usd = lambda amount: Money(amount, "USD")  # noqa: E731
    assert (order.subtotal, order.discount_total, order.voucher_discount) == (usd("20.00"), usd("2.00"), usd("2.00"))
    assert order.shipping_price == usd("4.90")
    # Prices entered gross: 18.00 of goods and 4.90 of shipping include 19 % VAT.
    assert order.total == usd("22.90")
    assert order.tax_total == usd("3.65")  # 18.00 - 15.13 = 2.87, 4.90 - 4.12 = 0.78
    assert order.shipping_tax == usd("0.78")
    assert order.tax_summary == [{"rate": "19.00", "net": "19.25", "tax": "3.65", "gross": "22.90"}]
    assert order.voucher_code == "TENOFF"
    assert order.shipping["name"] == "Standard" and order.shipping["price"] == {"amount": "4.90", "currency": "USD"}
    line = order.lines.get()
    assert (line.discount, line.gross, line.tax_rate) == (usd("2.00"), usd("18.00"), Decimal("19.00"))
    assert line.net + line.tax == line.gross
    assert order.subtotal - order.discount_total + order.shipping_price == order.total
    assert Payment.objects.get(reference=order.number).amount == order.total
    assert Wallet.objects.get(user=shopper).balance == Decimal("100.00") - Decimal("22.90")
    assert Voucher.objects.get(code="TENOFF").uses == 1


def test_a_placed_order_never_changes_when_the_rules_do(shopper, product, germany_standard):
    cart_fill(shopper, (product, 1))
    order = place(shopper, germany_standard.pk).order
    germany_standard.prices.update(price=Decimal("9.99"))
    TaxRate.objects.update(rate=Decimal("7"))
    order.refresh_from_db()
    assert order.shipping_price == Money("4.90", "USD") and order.total == Money("14.90", "USD")


def test_an_address_no_method_serves_is_refused_before_anything_is_made(shopper, product, germany_standard):
    from tests.orders.factories import AddressFactory

    us = AddressFactory(user=shopper, country="US", region="NY", postal_code="10001")
    cart_fill(shopper, (product, 1))
    for method in (None, germany_standard.pk):
        with pytest.raises(ShippingUnavailable) as refused:
            place(shopper, method, shipping_address=us.pk)
        assert (refused.value.code, refused.value.field) == ("shipping_unavailable", "shipping_address")
    assert not Order.objects.exists() and not StockReservation.objects.exists() and not Payment.objects.exists()


def test_no_method_chosen_is_shipping_method_required(shopper, product, germany_standard):
    cart_fill(shopper, (product, 1))
    with pytest.raises(ShippingMethodRequired) as refused:
        place(shopper, None)
    assert refused.value.code == "shipping_method_required"
    assert not Order.objects.exists()


def test_a_method_switched_off_before_placing_is_refused_with_its_field(shopper, product, germany_standard):
    other = MethodFactory(name="Express", zones=[ZoneFactory(countries=["DE"])])
    price_add(other, "USD", price="9.90")
    ShippingMethod.objects.filter(pk=other.pk).update(is_active=False)
    cart_fill(shopper, (product, 1))
    with pytest.raises(ShippingMethodUnavailable) as refused:
        place(shopper, other.pk)
    assert (refused.value.code, refused.value.field) == ("shipping_method_unavailable", "shipping_method")
    assert not Order.objects.exists() and Wallet.objects.get(user=shopper).balance == Decimal("100.00")


def test_cancelling_gives_the_voucher_use_back(shopper, product, germany_standard):
    make_voucher("ONCE", percentage="10", usage_limit=1)
    cart_fill(shopper, (product, 1))
    assert Cart.objects.filter(user=shopper).update(voucher_code="ONCE") == 1
    order = place(shopper, germany_standard.pk, expected_total=None)
    Order.objects.filter(pk=order.order.pk).update(status=Order.Status.PENDING_PAYMENT)  # as if still unpaid
    assert Voucher.objects.get(code="ONCE").uses == 1
    order_cancel(order_id=order.order.pk, reason="test", check_payment=False)
    order_cancel_again = Voucher.objects.get(code="ONCE")
    assert order_cancel_again.uses == 0


def test_api_needs_a_method_and_answers_a_moved_price_with_409_and_the_new_totals(
    api, shopper, product, germany_standard
):
    cart_fill(shopper, (product, 1))
    body = {"payment_method": "wallet", "shipping_address": shopper.addresses.first().pk}
    post = lambda data: api.post(  # noqa: E731
        "/api/v1/orders/", data, format="json", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    missing = post(body)
    assert missing.status_code == 400 and missing.json()["code"] == "shipping_method_required"
    moved = post({**body, "shipping_method": germany_standard.pk,
                  "expected_total": {"amount": "10.00", "currency": "USD"}})
    assert moved.status_code == 409, moved.content
    assert moved.json()["code"] == "price_changed"
    assert moved.json()["totals"]["total"] == {"amount": "14.90", "currency": "USD"}
    assert not Order.objects.exists()
    placed = post({**body, "shipping_method": germany_standard.pk,
                   "expected_total": {"amount": "14.90", "currency": "USD"}})
    assert placed.status_code == 201, placed.content
    data = placed.json()
    assert data["subtotal"] == {"amount": "10.00", "currency": "USD"}
    assert data["shipping"]["method"] == "Standard"
    assert data["shipping"]["price"] == {"amount": "4.90", "currency": "USD"}
    assert data["total"] == {"amount": "14.90", "currency": "USD"}
    assert [row["rate"] for row in data["tax"]] == ["19.00"]


def test_reconciliation_finds_an_order_whose_components_do_not_add_up(shopper, product, germany_standard):
    from django.db.models import F

    from shop.orders.reconciliation import order_components_problems

    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 3))
    Cart.objects.filter(user=shopper).update(voucher_code="TENOFF")
    order = place(shopper, germany_standard.pk).order
    fresh = lambda: Order.objects.prefetch_related("lines").get(pk=order.pk)  # noqa: E731
    assert order_components_problems(fresh()) == []
    Order.objects.filter(pk=order.pk).update(shipping_price=F("shipping_price") + 1)
    assert len(order_components_problems(fresh())) == 1
    Order.objects.filter(pk=order.pk).update(shipping_price=F("shipping_price") - 1)
    order.lines.update(tax=F("tax") + Decimal("0.01"))
    assert len(order_components_problems(fresh())) == 2  # the tax total and the line itself


def test_prices_entered_net_add_the_tax_on_top(shopper, product, germany_standard, settings):
    from shop.orders.reconciliation import order_components_problems

    settings.PRICES_INCLUDE_TAX = False
    cart_fill(shopper, (product, 1))  # 10.00 net + 1.90 VAT; shipping 4.90 net + 0.93 VAT
    order = place(shopper, germany_standard.pk).order
    order.refresh_from_db()
    assert (order.tax_total, order.total) == (Money("2.83", "USD"), Money("17.73", "USD"))
    assert not order.prices_include_tax
    assert order_components_problems(Order.objects.prefetch_related("lines").get(pk=order.pk)) == []


def test_the_order_takes_the_voucher_off_the_cart_and_a_declined_card_puts_it_back(psp, germany_standard):
    from tests.orders.factories import make_product, shopper_new

    shopper, product = shopper_new(), make_product(price="10.00", on_hand=10)
    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 1))
    Cart.objects.filter(user=shopper).update(voucher_code="TENOFF")
    declined = order_place(
        user=shopper, payment_method="card", card_token="tok_declined", currency="USD",
        shipping_address=shopper.addresses.first().pk, shipping_method=germany_standard.pk,
    )
    assert declined.order.status == Order.Status.CANCELLED
    assert Voucher.objects.get(code="TENOFF").uses == 0  # released with the cancelled order
    assert Cart.objects.get(user=shopper).voucher_code == "TENOFF"  # the shopper tries again with it
    paid = place(shopper, germany_standard.pk).order
    assert paid.voucher_code == "TENOFF" and Voucher.objects.get(code="TENOFF").uses == 1
    assert Cart.objects.get(user=shopper).voucher_code == ""


def test_the_order_page_and_e_mail_show_the_breakdown(shopper, product, germany_standard):
    from django.template.loader import render_to_string
    from django.test import Client

    from shop.orders.selectors import order_breakdown

    make_voucher("TENOFF", percentage="10")
    cart_fill(shopper, (product, 2))
    Cart.objects.filter(user=shopper).update(voucher_code="TENOFF")
    order = place(shopper, germany_standard.pk).order
    order.refresh_from_db()
    text = render_to_string("orders/email/order_paid.txt", {
        "order": order, "lines": list(order.lines.all()), "breakdown": order_breakdown(order),
    })
    for expected in ("Subtotal: $20.00", "Voucher TENOFF: -$2.00", "Shipping (Standard): $4.90",
                     "Included VAT 19 %: $3.65", "Total: $22.90"):
        assert expected in text, text
    browser = Client()
    browser.force_login(shopper)
    page = browser.get(f"/orders/{order.number}/").content.decode()
    assert "price-breakdown" in page and "TENOFF" in page and "$22.90" in page and "Standard" in page
