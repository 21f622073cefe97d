"""Provider webhooks delivered twice and out of order: each outcome applies once, a final state stays final.

Charges, refunds and payouts. The events delivered are the sandbox's own
(the exact signed body it records when it makes the object; its sending is
switched off, so the test is the network, delivering them late, twice and in
any order); a stale event (a failure older than the success) is the
provider's object as it was before, under a new event id.

A failure event for a payment or payout not yet final is checked with the
provider (lookup by key) before it settles anything, so an older failure
arriving before the success cannot cancel a paid order or give back a payout
that was made. A refund failure event settles nothing: a pending refund is
only ever sent again with its key (refunds are never guessed failed).
"""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Stock
from payments.gateway import get_gateway
from payments.models import LedgerTransaction, Payment, Refund, WebhookEvent, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxEvent, SandboxPayout, SandboxRefund
from payments.psp_sandbox.signing import sign
from payments.services import payouts, refunds
from payments.services.sweep import payment_retry_stuck
from shop.orders.models import Order, OutboxEmail
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.transitions import order_refund
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.fixtures import wallet_funded_by_card
from tests.reliability.helpers import assert_invariants
from tests.shipping.factories import shipping_method_everywhere

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
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="card", card_token="tok_ok", shipping_address=user.addresses.first().pk,
        currency="USD",
    )
    assert result.outcome == PlaceOutcome.PENDING
    return result.order, Payment.objects.get(pk=result.order.payment_id), product


def post_event(settings, body: bytes) -> str:
    """Deliver one signed event to the shop's webhook endpoint; returns what the shop did with it."""
    response = Client().post(
        URL, data=body, content_type="application/json", HTTP_PSP_SIGNATURE=sign(body, settings.PAYMENT_WEBHOOK_SECRET)
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]


def deliver(settings, payment, *, event_id: str, kind: str, charge_id: str):
    """A charge event for the payment's key (made up: the sandbox says the same in the same shape)."""
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
    return post_event(settings, body)


def provider_event(settings, obj, type: str) -> str:
    """Deliver the event the sandbox recorded when it made `obj` (exactly the body it would send)."""
    event = SandboxEvent.objects.get(object_id=obj.id, type=type)
    return post_event(settings, event.body.encode())


def stale_event(settings, obj, type: str, *, event_id: str) -> str:
    """Deliver a `type` event for `obj` as it stood a minute earlier (e.g. a failure older than its success)."""
    data = json.loads(SandboxEvent.objects.filter(object_id=obj.id).latest("created").body)["data"]
    status = type.partition(".")[2]
    data.update(status=status, created=data["created"] - 60)
    if "failure_code" in data or status == "failed":
        data["failure_code"] = "card_declined" if status == "failed" else ""
    body = json.dumps({"id": event_id, "type": type, "created": int(time.time()) - 60, "data": data}).encode()
    return post_event(settings, body)


def _due_now(*rows):
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))


def test_success_delivered_twice_then_a_late_failure_pays_the_order_once(settings, psp, pending_card_order):
    order, payment, product = pending_card_order
    settings.PAYMENT_GATEWAY_URL = psp
    charge = _charge_late(payment)  # the charge the shop never heard back about

    assert provider_event(settings, charge, "charge.succeeded") == "succeeded"
    assert provider_event(settings, charge, "charge.succeeded") == "duplicate"
    # An older failure for the same key: a final state stays final.
    assert stale_event(settings, charge, "charge.failed", event_id="evt_b") == "succeeded"
    assert stale_event(settings, charge, "charge.failed", event_id="evt_b") == "duplicate"

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert order.status == Order.Status.PAID
    assert order.events.filter(to_status=Order.Status.PAID).count() == 1
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (1, 0)  # sold once
    assert WebhookEvent.objects.count() == 2
    assert_invariants()


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
    assert_invariants()


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
    assert_invariants()


# --- refunds ------------------------------------------------------------------------------


@pytest.fixture
def paid_card_order(settings, psp):
    """A card order for 3 x 20.00 paid at the provider (tok_ok): stock 4 -> 1."""
    product = make_product(price="20.00", on_hand=4)
    user = shopper_new(funds=None)
    cart_fill(user, (product, 3))
    result = order_place(
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="card", card_token="tok_ok", shipping_address=user.addresses.first().pk,
        currency="USD",
    )
    assert result.outcome == PlaceOutcome.PAID
    return result.order, Payment.objects.get(pk=result.order.payment_id), product


def _refund_late(refund):
    """The provider makes the refund for the refund's key now (a request that was still in flight)."""
    payment = refund.payment
    result = get_gateway().refund(
        idempotency_key=refund.provider_key, charge_id=payment.provider_charge_id, amount=refund.amount,
        reference=refund.reference,
    )
    assert result.outcome == "succeeded", result
    return SandboxRefund.objects.get(idempotency_key=refund.provider_key)


def test_a_refund_success_delivered_twice_among_stale_failures_refunds_the_order_once(
    settings, psp, paid_card_order
):
    order, payment, product = paid_card_order
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER  # staff refunds the order; the answer never comes back
    order_refund(order_id=order.pk, reason="customer asked")
    refund = Refund.objects.get(payment=payment)
    assert refund.status == Refund.Status.PENDING
    settings.PAYMENT_GATEWAY_URL = psp
    provider_refund = _refund_late(refund)  # but the provider made it

    # A failure older than the success comes first, and again after it: it settles nothing.
    assert stale_event(settings, provider_refund, "refund.failed", event_id="evt_rf_old") == "ignored"
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    assert not LedgerTransaction.objects.filter(reference=refund.ledger_reference).exists()
    assert provider_event(settings, provider_refund, "refund.succeeded") == "succeeded"
    assert provider_event(settings, provider_refund, "refund.succeeded") == "duplicate"
    assert stale_event(settings, provider_refund, "refund.failed", event_id="evt_rf_old") == "duplicate"
    assert stale_event(settings, provider_refund, "refund.failed", event_id="evt_rf_late") == "ignored"
    # The success once more under a new event id (a provider redelivering): already applied.
    assert stale_event(settings, provider_refund, "refund.succeeded", event_id="evt_rs_again") == "succeeded"
    _due_now(refund)
    assert payment_retry_stuck() == 0  # nothing left for the retry job

    refund.refresh_from_db()
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == (Refund.Status.SUCCEEDED, provider_refund.id)
    assert (payment.status, payment.refunded_amount) == (Payment.Status.REFUNDED, payment.amount.amount)
    assert order.status == Order.Status.REFUNDED
    assert order.events.filter(to_status=Order.Status.REFUNDED).count() == 1
    assert OutboxEmail.objects.filter(order=order, kind=OutboxEmail.Kind.ORDER_REFUNDED).count() == 1
    assert LedgerTransaction.objects.filter(reference=refund.ledger_reference).count() == 1
    assert SandboxRefund.objects.count() == 1  # money went back once
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (4, 0)  # the unshipped goods restocked once
    assert_invariants()


def test_two_partial_refunds_settled_out_of_order_and_twice_each_refund_exactly_the_total(
    settings, psp, paid_card_order
):
    order, payment, product = paid_card_order
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    half = Money("30.00", "USD")
    first, second = (
        refunds.payment_refund(payment_id=payment.pk, amount=half, reference=f"{order.number}-goodwill-{i}",
                                reason="goodwill")
        for i in (1, 2)
    )
    settings.PAYMENT_GATEWAY_URL = psp
    made = [_refund_late(first), _refund_late(second)]

    # The second refund's success overtakes the first's; each arrives twice.
    assert provider_event(settings, made[1], "refund.succeeded") == "succeeded"
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (Payment.Status.PARTIALLY_REFUNDED, half.amount)
    assert provider_event(settings, made[1], "refund.succeeded") == "duplicate"
    assert stale_event(settings, made[0], "refund.failed", event_id="evt_rf_first_old") == "ignored"
    assert provider_event(settings, made[0], "refund.succeeded") == "succeeded"
    assert provider_event(settings, made[0], "refund.succeeded") == "duplicate"
    assert provider_event(settings, made[1], "refund.succeeded") == "duplicate"
    _due_now(first, second)
    assert payment_retry_stuck() == 0

    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (Payment.Status.REFUNDED, payment.amount.amount)
    assert order.status == Order.Status.REFUNDED
    assert order.refunded_total == order.total
    assert order.events.filter(to_status=Order.Status.REFUNDED).count() == 1
    assert LedgerTransaction.objects.filter(kind="refund").count() == 2
    assert list(Refund.objects.values_list("status", flat=True)) == [Refund.Status.SUCCEEDED] * 2
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (1, 0)  # a money-only refund takes nothing back
    assert_invariants()


# --- payouts ------------------------------------------------------------------------------


@pytest.fixture
def processing_withdrawal(settings, psp):
    """Factory: 20.00 of a 50.00 wallet (topped up by the card given, default tok_ok) on its way back to
    that card: the wallet is debited, the payout request never got an answer (withdrawal processing)."""

    def make(card_token: str = "tok_ok") -> Withdrawal:
        user = shopper_new(funds=None)
        wallet = wallet_funded_by_card(user, "50.00", card_token=card_token)
        settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
        withdrawal = payouts.wallet_withdraw(wallet_id=wallet.pk, amount=Money("20.00", "USD"), card_token=card_token)
        settings.PAYMENT_GATEWAY_URL = psp
        assert withdrawal.status == Withdrawal.Status.PROCESSING
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("30.00")
        return withdrawal

    return make


def _payout_late(withdrawal, outcome: str = "succeeded"):
    """The provider makes the payout for the withdrawal's key now (a request that was still in flight)."""
    result = get_gateway().payout(
        idempotency_key=withdrawal.provider_key, amount=withdrawal.amount, token=withdrawal.card_token,
        reference=f"withdrawal-{withdrawal.pk}",
    )
    assert result.outcome == outcome, result
    return SandboxPayout.objects.get(idempotency_key=withdrawal.provider_key)


def _assert_paid_out_once(withdrawal):
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SUCCEEDED
    assert withdrawal.wallet.balance == Decimal("30.00")
    assert LedgerTransaction.objects.filter(reference=withdrawal.ledger_reference).count() == 1
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()  # nothing given back to the wallet
    assert SandboxPayout.objects.filter(status="succeeded").count() == 1


def test_a_payout_success_delivered_twice_then_a_stale_failure_pays_out_once(settings, processing_withdrawal):
    withdrawal = processing_withdrawal()
    payout = _payout_late(withdrawal)

    assert provider_event(settings, payout, "payout.succeeded") == "succeeded"
    assert provider_event(settings, payout, "payout.succeeded") == "duplicate"
    # The payout is final here: an older failure changes nothing (it is not even looked up).
    lookups = withdrawal.attempts.count()
    assert stale_event(settings, payout, "payout.failed", event_id="evt_po_old") == "succeeded"
    assert stale_event(settings, payout, "payout.failed", event_id="evt_po_old") == "duplicate"
    assert withdrawal.attempts.count() == lookups
    _due_now(withdrawal)
    assert payment_retry_stuck() == 0

    _assert_paid_out_once(withdrawal)
    assert_invariants()


def test_a_payout_failure_arriving_before_its_success_is_checked_with_the_provider_and_reverses_nothing(
    settings, processing_withdrawal
):
    withdrawal = processing_withdrawal()
    payout = _payout_late(withdrawal)

    # Still processing here: the failure is checked with the provider, which says it paid out.
    assert stale_event(settings, payout, "payout.failed", event_id="evt_po_first") == "succeeded"
    assert provider_event(settings, payout, "payout.succeeded") == "succeeded"
    assert provider_event(settings, payout, "payout.succeeded") == "duplicate"
    assert stale_event(settings, payout, "payout.failed", event_id="evt_po_first") == "duplicate"

    _assert_paid_out_once(withdrawal)
    assert_invariants()


def test_a_declined_payout_reported_twice_and_early_gives_the_money_back_once(settings, processing_withdrawal):
    # A card that paid into the wallet but refuses money back (tok_payout_declined).
    withdrawal = processing_withdrawal("tok_payout_declined")
    wallet = withdrawal.wallet

    # A failure for a payout the provider has not made (yet): unconfirmed, nothing given back.
    body = json.dumps(
        {
            "id": "evt_po_early",
            "type": "payout.failed",
            "created": int(time.time()),
            "data": {"id": "po_unknown", "object": "payout", "status": "failed", "failure_code": "card_declined",
                     "idempotency_key": withdrawal.provider_key},
        }
    ).encode()
    assert post_event(settings, body) == "unconfirmed"
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("30.00")

    payout = _payout_late(withdrawal, outcome="declined")  # now the provider refuses it
    assert provider_event(settings, payout, "payout.failed") == "failed"
    assert provider_event(settings, payout, "payout.failed") == "duplicate"
    # The same failure again under a new event id (a provider redelivering), and the early one again.
    assert stale_event(settings, payout, "payout.failed", event_id="evt_po_again") == "failed"
    assert post_event(settings, body) == "duplicate"
    _due_now(withdrawal)
    assert payment_retry_stuck() == 0

    withdrawal.refresh_from_db()
    wallet.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.FAILED
    assert wallet.balance == Decimal("50.00")  # the 20.00 came back, once
    assert LedgerTransaction.objects.filter(reference=f"{withdrawal.ledger_reference}:reversal").count() == 1
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1
    assert list(SandboxPayout.objects.values_list("status", flat=True)) == ["failed"]  # nothing paid out
    assert_invariants()
