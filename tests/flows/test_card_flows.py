"""Cart -> order -> card payment -> ledger, against the sandbox provider over real HTTP."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import StockReservation
from payments.models import Payment
from payments.services.sweep import payment_retry_stuck
from shop.cart.models import CartLine
from shop.orders.models import Order, OutboxEmail
from shop.orders.services.transitions import order_expire_reservations
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced, place_order_form, stock_of
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def buyer(transactional_db):
    user = shopper_new(funds="50.00")
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


def pay_by_card(client, token, key=None):
    body = {"payment_method": "card", "card_token": token, "shipping_method": shipping_method_everywhere(), "shipping_address": client.user.addresses.first().pk}
    return client.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": key or str(uuid.uuid4())})


def test_card_success_pays_the_order_and_sells_the_stock(psp, buyer):
    product = make_product(price="12.00", on_hand=5)
    cart_fill(buyer.user, (product, 2))
    response = pay_by_card(buyer, "tok_ok")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert order.status == Order.Status.PAID
    assert Payment.objects.get(pk=order.payment_id).status == Payment.Status.SUCCEEDED
    assert stock_of(product) == (3, 0)
    assert not CartLine.objects.filter(cart__user=buyer.user).exists()
    assert {m.subject for m in mail.outbox} >= {f"Your order {order.number} is paid"}
    assert_ledger_balanced()


def test_card_decline_cancels_releases_at_once_and_lets_the_shopper_retry(psp, buyer):
    product = make_product(price="12.00", on_hand=5)
    cart_fill(buyer.user, (product, 2))
    response = pay_by_card(buyer, "tok_declined")
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "card_declined"
    assert "another payment method" in body["detail"]
    order = Order.objects.get()
    assert order.status == Order.Status.CANCELLED
    assert stock_of(product) == (5, 0)
    assert CartLine.objects.get(cart__user=buyer.user).quantity == 2  # the cart is put back for the retry
    assert OutboxEmail.objects.filter(order=order, kind="payment_failed").exists()
    retry = buyer.post(
        "/api/v1/orders/", {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": buyer.user.addresses.first().pk},
        format="json", headers={"Idempotency-Key": "second-try"},
    )
    assert retry.status_code == 201
    assert stock_of(product) == (3, 0)
    assert_ledger_balanced()


def test_same_key_twice_charges_the_card_once(psp, buyer):
    product = make_product(on_hand=5)
    cart_fill(buyer.user, (product, 1))
    first = pay_by_card(buyer, "tok_ok", key="card-key")
    second = pay_by_card(buyer, "tok_ok", key="card-key")
    assert first.status_code == second.status_code == 201
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert stock_of(product) == (4, 0)


def test_timeout_keeps_the_reservation_until_the_retry_job_settles_it(psp, buyer):
    product = make_product(on_hand=5)
    cart_fill(buyer.user, (product, 2))
    response = pay_by_card(buyer, "tok_timeout")
    assert response.status_code == 202, response.content
    assert "being confirmed" in response.json()["detail"]
    order = Order.objects.get()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert Payment.objects.get().status == Payment.Status.UNKNOWN
    assert stock_of(product) == (5, 2)
    # Even past its reservation, an order whose payment outcome is unknown is left alone.
    Order.objects.filter(pk=order.pk).update(reservation_expires_at=timezone.now() - timedelta(minutes=1))
    assert order_expire_reservations() == 0
    assert stock_of(product) == (5, 2)
    cancel = buyer.post(f"/api/v1/orders/{order.number}/cancel/")
    assert cancel.status_code == 409
    assert cancel.json()["code"] == "payment_being_confirmed"
    # The retry job asks the provider, which did charge: the order is paid.
    assert payment_retry_stuck(now=timezone.now() + timedelta(hours=1)) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert stock_of(product) == (3, 0)
    assert_ledger_balanced()


def test_provider_that_never_charged_ends_cancelled_and_released(psp, buyer, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    product = make_product(on_hand=5)
    cart_fill(buyer.user, (product, 1))
    response = pay_by_card(buyer, "tok_error")
    assert response.status_code == 202
    assert stock_of(product) == (5, 1)
    later = timezone.now() + timedelta(hours=1)
    for _ in range(3):
        payment_retry_stuck(now=later)
        later += timedelta(hours=1)
    order = Order.objects.get()
    assert Payment.objects.get().status == Payment.Status.FAILED
    assert order.status == Order.Status.CANCELLED
    assert stock_of(product) == (5, 0)
    assert StockReservation.objects.filter(reference=order.number, status="released").count() == 1
    assert_ledger_balanced()


def test_card_refund_goes_back_through_the_provider(psp, buyer):
    from shop.orders.services.transitions import order_refund

    product = make_product(price="8.00", on_hand=5)
    cart_fill(buyer.user, (product, 1))
    number = pay_by_card(buyer, "tok_ok").json()["number"]
    order = order_refund(order_id=Order.objects.get(number=number).id, reason="test")
    assert order.status == Order.Status.REFUNDED
    assert Payment.objects.get().status == Payment.Status.REFUNDED
    assert stock_of(product) == (5, 0)
    assert_ledger_balanced()


def test_a_card_payment_not_yet_started_is_voided_when_its_order_expires(psp, buyer):
    from payments.models import PaymentAttempt
    from payments.psp_sandbox.models import SandboxCharge
    from payments.services.charges import payment_charge_card, payment_create
    from shop.cart.services import CartOwner, cart_clear
    from shop.orders.services.checkout import _address_snapshot, _order_create, checkout_lines

    product = make_product(price="9.00", on_hand=5)
    user = buyer.user
    cart_fill(user, (product, 1))
    order = _order_create(
        user=user, currency="USD", method="card",
        address=_address_snapshot(user=user, shipping_address=user.addresses.first().pk),
        lines=checkout_lines(user=user, currency="USD"), checkout_token="",
    )
    payment = payment_create(user=user, purpose="order", reference=order.number, amount=order.total, method="card", card_token="tok_ok")
    Order.objects.filter(pk=order.pk).update(payment_id=payment.pk, reservation_expires_at=timezone.now() - timedelta(minutes=1))
    cart_clear(owner=CartOwner(user=user))
    assert order_expire_reservations() == 1  # the payment was never started: expiry may cancel
    payment = payment_charge_card(payment_id=payment.pk)  # a charge that comes too late does nothing
    assert payment.status == Payment.Status.FAILED and payment.last_error_code == "cancelled"
    assert not PaymentAttempt.objects.filter(payment=payment).exists()
    assert not SandboxCharge.objects.filter(idempotency_key=payment.provider_key).exists()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert stock_of(product) == (5, 0)
    assert_ledger_balanced()


def test_page_checkout_by_card_decline_and_timeout(psp, buyer):
    from django.test import Client

    product = make_product(on_hand=5)
    user = buyer.user
    browser = Client()
    browser.force_login(user)

    def place(token):
        cart_fill(user, (product, 1))
        browser.post("/orders/checkout/", {"address": user.addresses.first().pk})
        browser.post("/orders/checkout/payment/", {"shipping_method": shipping_method_everywhere(),
                                                  "payment_method": "card", "card_token": token})
        review = browser.get("/orders/checkout/review/")
        return browser.post("/orders/checkout/place/", place_order_form(review.content.decode()), follow=True)

    declined = place("tok_declined")
    assert declined.redirect_chain[-1][0] == "/orders/checkout/payment/"
    assert any("declined" in str(m) for m in declined.context["messages"])
    assert stock_of(product) == (5, 0)
    pending = place("tok_timeout")
    page = pending.content.decode()
    assert "being confirmed" in page
    assert "Cancel order" not in page  # money may have moved: no cancel button until the outcome is known
    assert Order.objects.filter(status=Order.Status.PENDING_PAYMENT).count() == 1
    assert stock_of(product) == (5, 2)  # the declined line stayed in the cart, one more was added


def test_a_crash_after_the_charge_then_a_retry_with_the_same_key_returns_the_first_order(psp, buyer, monkeypatch):
    from django.db.models import Model

    from payments.models import LedgerTransaction
    from payments.psp_sandbox.models import SandboxCharge

    product = make_product(price="15.00", on_hand=5)
    cart_fill(buyer.user, (product, 1))
    ledger_before = LedgerTransaction.objects.count()
    # The process dies after the provider charged the card, before the answer is written
    # (here: Django's refresh of the order right after payment_charge_card returns).
    original = Model.refresh_from_db
    crashed = []

    def refresh_then_crash(self, *args, **kwargs):
        if not crashed and isinstance(self, Order) and SandboxCharge.objects.filter(status="succeeded").exists():
            crashed.append(self.pk)
            raise ConnectionError("server lost after the charge")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Model, "refresh_from_db", refresh_then_crash)
    with pytest.raises(ConnectionError):
        pay_by_card(buyer, "tok_ok", key="crash-key")
    assert crashed and SandboxCharge.objects.count() == 1
    # The order took the cart's lines when it was made, before the charge: nothing left to buy twice.
    assert not CartLine.objects.filter(cart__user=buyer.user).exists()
    cart_fill(buyer.user, (product, 1))  # the shopper wants one more, in a new order

    retry = pay_by_card(buyer, "tok_ok", key="crash-key")

    assert retry.status_code == 201, retry.content
    order = Order.objects.get()
    assert retry.json()["number"] == order.number
    assert order.status == Order.Status.PAID
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert LedgerTransaction.objects.count() == ledger_before + 1
    assert stock_of(product) == (4, 0)
    # The retry answered with the first order and left the new cart alone.
    assert CartLine.objects.get(cart__user=buyer.user).quantity == 1
    assert_ledger_balanced()
