"""Provider webhooks delivered twice and out of order: each outcome applies once, a final state stays final."""

import json
import time

import pytest
from django.test import Client

from catalog.models import Stock
from payments.models import LedgerTransaction, Payment, PaymentAttempt, WebhookEvent
from payments.psp_sandbox.signing import sign
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


def deliver(settings, payment, *, event_id: str, kind: str):
    body = json.dumps(
        {
            "id": event_id,
            "type": f"charge.{kind}",
            "created": int(time.time()),
            "data": {
                "id": "ch_reliab_1",
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


def test_failure_then_a_late_success_cancels_once_and_gives_the_charge_back(settings, pending_card_order):
    order, payment, product = pending_card_order

    assert deliver(settings, payment, event_id="evt_c", kind="failed") == "failed"
    assert deliver(settings, payment, event_id="evt_d", kind="succeeded") == "failed"  # too late: stays failed
    assert deliver(settings, payment, event_id="evt_d", kind="succeeded") == "duplicate"

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert order.status == Order.Status.CANCELLED
    assert order.events.filter(to_status=Order.Status.CANCELLED).count() == 1
    assert not LedgerTransaction.objects.filter(reference=payment.ledger_reference).exists()
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (4, 0)  # released once
    # The charge the provider reported late is sent back, once (the duplicate asked for nothing).
    refunds = PaymentAttempt.objects.filter(payment=payment, kind=PaymentAttempt.Kind.REFUND)
    assert refunds.count() == 1
    assert "ch_reliab_1" in json.dumps(refunds.get().request)  # the charge the late event named
    assert_money_invariants()
    assert_stock_invariants()
