"""Provider webhooks delivered twice and out of order: each outcome applies once, a final state stays final.

A failure event for a payment not yet final is checked with the provider
(lookup by key) before it settles anything, so an older failure arriving
before the success cannot cancel a paid order.
"""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Stock
from payments.gateway import get_gateway
from payments.models import LedgerTransaction, Payment, Refund, WebhookEvent
from payments.psp_sandbox.models import SandboxCharge, SandboxRefund
from payments.psp_sandbox.signing import sign
from payments.services import payment_retry_stuck
from shop.orders.models import Order
from shop.orders.services import PlaceOutcome, order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.reliability.helpers import assert_money_invariants, assert_stock_invariants

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/payments/webhooks/psp/"
DEAD_PROVIDER = "http://127.0.0.1:9/psp-sandbox/"


@pytest.fixture
def pending_card_order(settings):
    """A card order whose charge could not reach the provider: payment processing, stock reserved."""
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    product = make_product(price="20.00", on_hand=4)
    user = shopper_new(funds=None)
    cart_fill(user, (product, 3))
    result = order_place(
        user=user, payment_method="card", card_token="tok_ok", shipping_address=user.addresses.first().pk,
        currency="USD",
    )
    assert result.outcome == PlaceOutcome.PENDING
    return result.order, Payment.objects.get(pk=result.order.payment_id), product


def deliver(settings, payment, *, event_id: str, kind: str, charge_id: str = "ch_reliab_1"):
    body = json.dumps(
        {
            "id": event_id,
            "type": f"charge.{kind}",
            "created": int(time.time()),
            "data": {
                "id": charge_id,
                "object": "charge",
                "status": kind,
                "idempotency_key": payment.provider_key,
                "failure_code": "card_declined" if kind == "failed" else "",
            },
        }
    ).encode()
    response = Client().post(
        URL, data=body, content_type="application/json", HTTP_PSP_SIGNATURE=sign(body, settings.PAYMENT_WEBHOOK_SECRET)
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]


def test_success_delivered_twice_then_a_late_failure_pays_the_order_once(settings, pending_card_order):
    order, payment, product = pending_card_order

    assert deliver(settings, payment, event_id="evt_a", kind="succeeded") == "succeeded"
    assert deliver(settings, payment, event_id="evt_a", kind="succeeded") == "duplicate"
    assert deliver(settings, payment, event_id="evt_b", kind="failed") == "succeeded"  # a final state stays
    assert deliver(settings, payment, event_id="evt_b", kind="failed") == "duplicate"

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert order.status == Order.Status.PAID
    assert order.events.filter(to_status=Order.Status.PAID).count() == 1
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (1, 0)  # sold once
    assert WebhookEvent.objects.count() == 2
    assert_money_invariants()
    assert_stock_invariants()


def _charge_late(payment):
    """The provider makes the charge for the payment's key now (a request that was still in flight)."""
    result = get_gateway().charge(
        idempotency_key=payment.provider_key, amount=payment.amount, token=payment.card_token, reference=payment.reference
    )
    assert result.outcome == "succeeded"
    return SandboxCharge.objects.get(idempotency_key=payment.provider_key)


def test_an_older_failure_then_the_success_pays_the_order_once_when_the_provider_charged(
    settings, psp, pending_card_order
):
    order, payment, product = pending_card_order
    settings.PAYMENT_GATEWAY_URL = psp
    charge = _charge_late(payment)

    # The failure arrives first: the provider is asked, and it says the charge succeeded.
    assert deliver(settings, payment, event_id="evt_c", kind="failed", charge_id=charge.id) == "succeeded"
    assert deliver(settings, payment, event_id="evt_d", kind="succeeded", charge_id=charge.id) == "succeeded"
    assert deliver(settings, payment, event_id="evt_d", kind="succeeded", charge_id=charge.id) == "duplicate"

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert order.status == Order.Status.PAID
    assert order.events.filter(to_status=Order.Status.PAID).count() == 1
    assert not order.events.filter(to_status=Order.Status.CANCELLED).exists()
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    assert not Refund.objects.exists() and not SandboxRefund.objects.exists()
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (1, 0)  # sold once
    assert_money_invariants()
    assert_stock_invariants()


def test_a_charge_landing_after_the_payment_failed_cancels_once_and_is_given_back_durably(
    settings, psp, pending_card_order
):
    order, payment, product = pending_card_order
    settings.PAYMENT_GATEWAY_URL = psp
    settings.PAYMENT_MAX_ATTEMPTS = 1
    # Past the last attempt the provider says it has no charge for our key: the payment fails.
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
    assert payment_retry_stuck() == 1
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, order.status) == (Payment.Status.FAILED, Order.Status.CANCELLED)
    charge = _charge_late(payment)  # yet a request still in flight charged the card

    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER  # and the provider is unreachable when we give it back
    assert deliver(settings, payment, event_id="evt_e", kind="succeeded", charge_id=charge.id) == "failed"
    assert deliver(settings, payment, event_id="evt_e", kind="succeeded", charge_id=charge.id) == "duplicate"
    refund = Refund.objects.get(payment=payment)
    assert (refund.kind, refund.status) == (Refund.Kind.LATE_CHARGE, Refund.Status.PENDING)

    settings.PAYMENT_GATEWAY_URL = psp
    Refund.objects.filter(pk=refund.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
    assert payment_retry_stuck() == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert list(SandboxRefund.objects.values_list("charge_id", "idempotency_key")) == [(charge.id, refund.provider_key)]

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert order.status == Order.Status.CANCELLED
    assert order.events.filter(to_status=Order.Status.CANCELLED).count() == 1
    assert not LedgerTransaction.objects.filter(reference=payment.ledger_reference).exists()
    assert LedgerTransaction.objects.filter(reference=refund.ledger_reference).count() == 1
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (4, 0)  # released once
    assert_money_invariants()
    assert_stock_invariants()
