"""A guest's API checkout with the lines in the body: no session, no cookie, no CSRF token; the lines are
checked as adding them to a cart checks them, and everything after goes through the guest checkout."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from djmoney.money import Money
from rest_framework.test import APIClient

from catalog.models import Product, Stock
from payments.models import Payment
from shop.cart.services import lines_resolve
from shop.orders.models import Order
from shop.orders.services.checkout import PlaceResult, order_place
from shop.orders.services.guest_checkout import GuestBuyer
from shop.pricing.models import VoucherRedemption
from tests.catalog.factories import default_variant, make_apparel
from tests.orders.factories import make_product
from tests.orders.guest import ADDRESS_DE, guest_checkout, guest_with_cart
from tests.orders.helpers import assert_ledger_balanced
from tests.payments.test_concurrency import run_at_once
from tests.pricing.factories import make_voucher
from tests.shipping.factories import shipping_method_everywhere


def app_client() -> APIClient:
    """A mobile app: no session cookie, and CSRF checked as a browser's request would be."""
    return APIClient(enforce_csrf_checks=True)


def lines_checkout(client, lines, *, key=None, **changes):
    return guest_checkout(client, key=key, **({} if lines is None else {"lines": lines}), **changes)


def nothing_made(*products):
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert not VoucherRedemption.objects.exists()
    assert not Stock.objects.filter(product_id__in=[p.id for p in products], reserved__gt=0).exists()
    assert Stock.objects.filter(product_id__in=[p.id for p in products]).exists()


@pytest.mark.django_db(transaction=True)
def test_an_app_with_no_session_buys_its_lines_by_card_with_a_voucher_and_a_replay_is_the_same_order(
    psp, product
):
    make_voucher("WELCOME10", percentage="10")
    client, key = app_client(), str(uuid.uuid4())
    variant = default_variant(product)
    response = lines_checkout(
        client, [{"variant": variant.pk, "quantity": 2}], key=key, voucher_code="welcome10"
    )
    assert response.status_code == 201, response.content
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # nothing was put in a session
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert (order.user, order.email, order.status) == (None, "ann@example.com", Order.Status.PAID)
    assert [(line.variant_id, line.quantity) for line in order.lines.all()] == [(variant.pk, 2)]
    assert order.voucher_code == "WELCOME10" and order.voucher_discount == Money("2.00", "USD")
    assert VoucherRedemption.objects.get(reference=order.number).email == "ann@example.com"
    payment = Payment.objects.get(pk=order.payment_id)
    assert (payment.user, payment.status, payment.amount) == (None, Payment.Status.SUCCEEDED, order.total)
    assert Stock.objects.get(product_id=product.id).on_hand == 8  # sold like any checkout's
    assert order.number in Client().get(body["order_url"]).content.decode()
    assert body["access_token"] and body["total"] == {"amount": str(order.total.amount), "currency": "USD"}

    replay = lines_checkout(
        client, [{"variant": variant.pk, "quantity": 2}], key=key, voucher_code="WELCOME10"
    )
    assert replay.status_code == 201, replay.content
    assert replay.json()["number"] == order.number
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert Stock.objects.get(product_id=product.id).on_hand == 8
    # The same key from another e-mail is another checkout, not this order.
    other = lines_checkout(client, [{"variant": variant.pk, "quantity": 1}], key=key, email="bob@example.com")
    assert other.status_code == 201, other.content
    assert other.json()["number"] != order.number
    assert_ledger_balanced()


@pytest.mark.django_db(transaction=True)
def test_the_expected_total_is_checked_for_the_lines(psp, product):
    lines = [{"product": product.pk, "quantity": 1}]
    response = lines_checkout(app_client(), lines, expected_total={"amount": "1.00", "currency": "USD"})
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "price_changed" and body["totals"]["total"]["amount"] != "1.00"
    nothing_made(product)
    placed = lines_checkout(app_client(), lines, expected_total=body["totals"]["total"])
    assert placed.status_code == 201, placed.content


@pytest.mark.django_db
def test_bad_lines_are_400_naming_the_line_and_its_field_and_change_nothing(product, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "checkout": "100/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    apparel, variants = make_apparel(stock={("M", "Red"): 3})
    single = default_variant(product)
    inactive = make_product(on_hand=5)
    Product.objects.filter(pk=inactive.pk).update(is_active=False)
    ok = {"variant": single.pk, "quantity": 1}
    cases = [
        ([{"variant": 2**40, "quantity": 1}], "product_unavailable", "lines[0].variant"),
        ([ok, {"product": inactive.pk, "quantity": 1}], "product_unavailable", "lines[1].product"),
        (
            [{"variant": default_variant(inactive).pk, "quantity": 1}],
            "product_unavailable",
            "lines[0].variant",
        ),
        ([{"product": apparel.pk, "quantity": 1}], "variant_required", "lines[0].variant"),
        (
            [{"product": product.pk, "variant": variants[("M", "Red")].pk, "quantity": 1}],
            "variant_invalid",
            "lines[0].variant",
        ),
        ([{"variant": single.pk, "quantity": 0}], "invalid", "lines[0].quantity"),
        ([ok, {"variant": single.pk, "quantity": 100}], "invalid", "lines[1].quantity"),
        ([{"variant": single.pk, "quantity": "2.5"}], "invalid", "lines[0].quantity"),
        (
            [{"variant": single.pk, "quantity": 60}, {"product": product.pk, "quantity": 40}],
            "invalid",
            "lines[1].quantity",
        ),  # the same variant twice adds up, as in a cart
        ([{"quantity": 1}], "invalid", "lines[0].product"),
        ([], "invalid", "lines"),
        ([ok] * 51, "invalid", "lines"),
        ("1", "invalid", "lines"),
    ]
    for lines, code, field in cases:
        response = lines_checkout(app_client(), lines)
        assert response.status_code == 400, (lines, response.content)
        assert (response.json()["code"], response.json().get("field")) == (code, field), (
            lines,
            response.json(),
        )
        assert response.json()["detail"]
    nothing_made(product, apparel)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes, code, field",
    [
        ({"voucher_code": "NOPE"}, "voucher_invalid", "voucher_code"),
        ({"payment_method": "wallet", "card_token": ""}, "wallet_requires_account", "payment_method"),
        ({"email": ""}, "invalid", "email"),
        ({"shipping_address": 3}, "invalid", "shipping_address"),
        ({"shipping_method": None}, "shipping_method_required", "shipping_method"),
    ],
)
def test_a_bad_voucher_a_wallet_or_missing_details_are_refused_for_lines_too(product, changes, code, field):
    lines = [{"product": product.pk, "quantity": 1}]
    body_changes = {k: v for k, v in changes.items() if v is not None}
    client = app_client()
    if "shipping_method" in changes:
        shipping_method_everywhere()  # a method serves the address, but none is chosen
        body = {
            "email": "ann@example.com",
            "payment_method": "card",
            "card_token": "tok_ok",
            "shipping_address": ADDRESS_DE,
            "lines": lines,
        }
        response = client.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": "k-1"})
    else:
        response = lines_checkout(client, lines, **body_changes)
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    nothing_made(product)


@pytest.mark.django_db
def test_an_expired_voucher_names_the_voucher_code(product):
    make_voucher("OLD", percentage="10", starts_in=-timedelta(days=10), ends_in=-timedelta(days=1))
    response = lines_checkout(app_client(), [{"product": product.pk, "quantity": 1}], voucher_code="OLD")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("voucher_expired", "voucher_code")
    nothing_made(product)


@pytest.mark.django_db
def test_a_voucher_code_without_lines_is_refused(product):
    client = guest_with_cart((product, 1))
    response = lines_checkout(client, None, voucher_code="WELCOME10")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "voucher_code"
    nothing_made(product)


@pytest.mark.django_db
def test_a_signed_in_caller_checks_out_the_cart_not_lines(api, product):
    response = lines_checkout(api, [{"product": product.pk, "quantity": 1}], payment_method="wallet")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("invalid", "lines")
    nothing_made(product)


@pytest.mark.django_db(transaction=True)
def test_lines_win_over_the_session_cart_which_is_left_as_it_was(psp, product):
    other = make_product(price="5.00", on_hand=4)
    client = guest_with_cart((product, 3))
    make_voucher("CARTONLY", percentage="10")
    session = client.session
    session["cart_voucher"] = "CARTONLY"
    session.save()
    before = dict(client.session["cart"])
    response = lines_checkout(client, [{"product": other.pk, "quantity": 1}])
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert [line.product_id for line in order.lines.all()] == [other.pk]
    assert order.voucher_code == ""  # the session cart's voucher is the session cart's
    assert client.session["cart"] == before and client.session["cart_voucher"] == "CARTONLY"


@pytest.mark.django_db(transaction=True)
def test_a_declined_card_for_lines_makes_nothing_stick(psp, product):
    response = lines_checkout(
        app_client(), [{"product": product.pk, "quantity": 2}], card_token="tok_declined"
    )
    assert response.status_code == 402, response.content
    assert response.json()["code"] == "card_declined"
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Order.objects.get().status == Order.Status.CANCELLED
    assert Stock.objects.get(product_id=product.id).reserved == 0


@pytest.mark.django_db
def test_a_request_with_a_session_cookie_still_needs_the_csrf_token(product):
    browser = app_client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = "a-session-of-the-browser"
    response = lines_checkout(browser, [{"product": product.pk, "quantity": 1}])
    assert response.status_code == 403, response.content
    assert "CSRF" in response.json()["detail"]
    nothing_made(product)


@pytest.mark.django_db
def test_more_than_the_stock_is_a_409_and_nothing_is_made():
    scarce = make_product(on_hand=1)
    response = lines_checkout(app_client(), [{"product": scarce.pk, "quantity": 2}])
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "out_of_stock"
    assert body["lines"] == [{"variant": default_variant(scarce).pk, "requested": 2, "available": 1}]
    nothing_made(scarce)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_guests_buying_the_last_unit_at_once_never_oversell(psp):
    """Five guests with no session check out the last two units at the same moment: two orders, no more."""
    scarce = make_product(on_hand=2)
    method = shipping_method_everywhere()

    def checkout(i):
        return order_place(
            user=None,
            guest=GuestBuyer(email=f"g{i}@example.com", session=None, lines=((scarce.pk, None, 1),)),
            payment_method="card",
            card_token="tok_ok",
            currency="USD",
            shipping_address=ADDRESS_DE,
            shipping_method=method,
            checkout_token=f"t-{i}",
        )

    results = run_at_once(5, checkout)
    placed = [r for r in results if isinstance(r, PlaceResult)]
    assert len(placed) == 2, results
    assert all(getattr(r, "code", None) == "out_of_stock" for r in results if not isinstance(r, PlaceResult))
    stock = Stock.objects.get(product_id=scarce.pk)
    assert stock.on_hand >= 0 and stock.reserved >= 0
    assert Order.objects.filter(status=Order.Status.PAID).count() == 2
    assert stock.on_hand == 0
    assert sum(o.total.amount for o in Order.objects.filter(status=Order.Status.PAID)) > Decimal("0")


@pytest.mark.django_db
def test_the_lines_are_checked_in_a_few_queries_however_many_there_are(django_assert_max_num_queries):
    products = [make_product(on_hand=3) for _ in range(20)]
    items = [(p.pk, None, 1) if i % 2 else (None, default_variant(p).pk, 2) for i, p in enumerate(products)]
    with django_assert_max_num_queries(3):
        raw = lines_resolve(items)
    assert [(product_id, quantity) for _id, product_id, _v, quantity, _s in raw] == [
        (p.pk, 1 if i % 2 else 2) for i, p in enumerate(products)
    ]
    assert [variant_id for _id, _p, variant_id, _q, _s in raw] == [default_variant(p).pk for p in products]
