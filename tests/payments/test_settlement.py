"""Settling what the provider did not answer: payouts, card payments after the last attempt, the retry job's claims.

The rule throughout: an unknown outcome is never guessed. A payment is failed
(a payout reversed) only when the provider says so, or says it holds nothing
for our key after the last attempt; until then it stays open, is looked up by
key with a capped backoff, and a late webhook settles it.
"""

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Stock
from payments import selectors
from payments.gateway import get_gateway
from payments.models import LedgerTransaction, Payment, PaymentAttempt, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout
from payments.selectors import payment_get
from payments.services.attempts import RETRY_MAX_SECONDS
from payments.services.charges import payment_charge_card, payment_create
from payments.services.payouts import wallet_withdraw
from payments.services.sweep import payment_retry_stuck
from payments.services.wallets import wallet_deposit
from payments.webhooks import signature_header
from shop.orders.models import Order
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.staff.reports import payments_stuck
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import READ_TIMEOUT, wallet_with_balance
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_PROVIDER = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: refused before anything is sent


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def _later(hours: int = 2):
    return timezone.now() + timedelta(hours=hours)


def _sweep(times: int) -> None:
    for round_number in range(times):
        payment_retry_stuck(now=_later(2 + round_number))


def _webhook(event_type: str, obj: dict, event_id: str) -> str:
    body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time()), "data": obj}).encode()
    response = Client().post(
        "/payments/webhooks/psp/",
        data=body,
        content_type="application/json",
        HTTP_PSP_SIGNATURE=signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET),
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]


def _payout_event(withdrawal, payout=None, *, status="succeeded"):
    return {
        "id": payout.id if payout else "po_unknown",
        "object": "payout",
        "status": status,
        "amount": str(withdrawal.amount.amount),
        "currency": withdrawal.amount.currency.code,
        "idempotency_key": withdrawal.provider_key,
        "failure_code": payout.failure_code if payout else "",
    }


def _wait_for_late_answers(started: float) -> None:
    """tok_timeout answers after READ_TIMEOUT + 1 s in a live-server thread; let it finish before teardown."""
    time.sleep(max(0.0, started + READ_TIMEOUT + 1.3 - time.monotonic()))


def _wallet_funded_by(*tokens: str):
    """A wallet holding 100.00 topped up in equal parts by these cards (withdrawals go back only to
    a card that funded the wallet); deposits whose answer was lost are settled by the retry job."""
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    share = (Decimal("100.00") / len(tokens)).quantize(Decimal("0.01"))
    for token in tokens:
        wallet_deposit(wallet_id=wallet.pk, amount=usd(str(share)), card_token=token, user=user)
    _sweep(2)
    wallet.refresh_from_db()
    assert wallet.balance == share * len(tokens) == Decimal("100.00")
    return wallet


def _balanced_and_cached():
    assert not selectors.ledger_unbalanced_transactions().exists()
    assert selectors.wallets_with_wrong_cached_balance() == []


# --- withdrawals (payouts) ----------------------------------------------------------------------


def test_a_timed_out_payout_is_looked_up_by_key_and_not_sent_again(psp):
    wallet = _wallet_funded_by("tok_timeout")
    started = time.monotonic()
    withdrawal = wallet_withdraw(wallet_id=wallet.pk, amount=usd("40.00"), card_token="tok_timeout")
    assert withdrawal.status == Withdrawal.Status.PROCESSING
    assert payment_retry_stuck(now=_later()) == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SUCCEEDED
    assert withdrawal.provider_payout_id == SandboxPayout.objects.get().id
    assert list(withdrawal.attempts.values_list("kind", flat=True)) == ["payout", "lookup"]
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("60.00")
    _balanced_and_cached()
    _wait_for_late_answers(started)


def test_an_unknown_payout_is_never_reversed_however_many_attempts_and_a_late_webhook_settles_it(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = _wallet_funded_by("tok_timeout")
    started = time.monotonic()
    withdrawal = wallet_withdraw(wallet_id=wallet.pk, amount=usd("40.00"), card_token="tok_timeout")
    assert withdrawal.status == Withdrawal.Status.PROCESSING  # paid out at the provider; the answer was lost

    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER  # and now the provider cannot be asked
    _sweep(4)
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.PROCESSING
    assert withdrawal.attempt_count == 5
    assert timezone.now() < withdrawal.next_retry_at <= timezone.now() + timedelta(seconds=RETRY_MAX_SECONDS)
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("60.00")  # the debit stands: reversing it would create money
    assert not LedgerTransaction.objects.filter(reference__endswith=":reversal").exists()
    # Nothing is sent blind while the provider cannot be asked.
    assert withdrawal.attempts.filter(kind=PaymentAttempt.Kind.PAYOUT).count() == 1

    settings.PAYMENT_GATEWAY_URL = good_url
    payout = SandboxPayout.objects.get(idempotency_key=withdrawal.provider_key)
    assert _webhook("payout.succeeded", _payout_event(withdrawal, payout), "evt_po_1") == "succeeded"
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.provider_payout_id) == (Withdrawal.Status.SUCCEEDED, payout.id)
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("60.00")
    assert SandboxPayout.objects.count() == 1
    _balanced_and_cached()
    _wait_for_late_answers(started)


def test_a_payout_the_provider_still_has_none_of_after_the_last_attempt_is_reversed_without_sending_again(
    psp, settings
):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = _wallet_funded_by("tok_ok")
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    withdrawal = wallet_withdraw(wallet_id=wallet.pk, amount=usd("40.00"), card_token="tok_ok")
    assert withdrawal.status == Withdrawal.Status.PROCESSING  # refused before sending; one attempt left
    _sweep(1)  # the lookup gets no answer: nothing is decided
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.attempt_count) == (Withdrawal.Status.PROCESSING, 2)

    settings.PAYMENT_GATEWAY_URL = good_url
    _sweep(1)  # past the last attempt, the provider says it has no payout for the key
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.last_error_code) == (Withdrawal.Status.FAILED, "max_attempts")
    assert not SandboxPayout.objects.exists()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("100.00")
    _balanced_and_cached()


def test_a_payout_failed_webhook_reverses_only_what_the_provider_confirms(psp, settings):
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = _wallet_funded_by("tok_ok", "tok_payout_declined")
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    declined = wallet_withdraw(wallet_id=wallet.pk, amount=usd("10.00"), card_token="tok_payout_declined")
    paid = wallet_withdraw(wallet_id=wallet.pk, amount=usd("20.00"), card_token="tok_ok")
    settings.PAYMENT_GATEWAY_URL = good_url
    # Both sends reach the provider late: one is declined there, the other paid out.
    for withdrawal in (declined, paid):
        get_gateway().payout(
            idempotency_key=withdrawal.provider_key, amount=withdrawal.amount, token=withdrawal.card_token,
            reference=f"withdrawal-{withdrawal.pk}",
        )
    assert _webhook("payout.failed", _payout_event(declined, status="failed"), "evt_po_2") == "failed"
    # A failure event for the payout the provider made (out of order, or wrong) does not reverse it.
    assert _webhook("payout.failed", _payout_event(paid, status="failed"), "evt_po_3") == "succeeded"
    declined.refresh_from_db()
    paid.refresh_from_db()
    assert (declined.status, declined.last_error_code) == (Withdrawal.Status.FAILED, "card_declined")
    assert paid.status == Withdrawal.Status.SUCCEEDED
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("80.00")
    _balanced_and_cached()


def test_a_payout_made_after_its_debit_was_reversed_takes_the_money_back_from_the_wallet(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 1
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = _wallet_funded_by("tok_ok")
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    withdrawal = wallet_withdraw(wallet_id=wallet.pk, amount=usd("40.00"), card_token="tok_ok")
    assert withdrawal.status == Withdrawal.Status.FAILED  # the only attempt was refused before sending
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("100.00")
    settings.PAYMENT_GATEWAY_URL = good_url
    get_gateway().payout(
        idempotency_key=withdrawal.provider_key, amount=withdrawal.amount, token="tok_ok",
        reference=f"withdrawal-{withdrawal.pk}",
    )  # yet a send still in flight reached the provider
    payout = SandboxPayout.objects.get()
    assert _webhook("payout.succeeded", _payout_event(withdrawal, payout), "evt_po_4") == "succeeded"
    assert _webhook("payout.succeeded", _payout_event(withdrawal, payout), "evt_po_5") == "succeeded"
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SUCCEEDED
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("60.00")
    assert LedgerTransaction.objects.filter(reference=f"{withdrawal.ledger_reference}:late-payout").count() == 1
    _balanced_and_cached()


# --- card payments after the last attempt ------------------------------------------------------


def test_an_unknown_deposit_stays_unknown_while_the_provider_cannot_be_reached_and_settles_when_it_can(
    psp, settings
):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = wallet_with_balance(VerifiedUserFactory())
    started = time.monotonic()
    payment = wallet_deposit(wallet_id=wallet.pk, amount=usd("25.00"), card_token="tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN

    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    _sweep(5)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN  # not guessed failed after the last attempt
    assert payment.attempt_count == 6
    # Still in the job's sweep, at most an hour away, and listed for staff.
    assert timezone.now() < payment.next_retry_at <= timezone.now() + timedelta(seconds=RETRY_MAX_SECONDS)
    assert payment in payments_stuck()[0]
    assert payment.attempts.filter(kind=PaymentAttempt.Kind.CHARGE).count() == 1
    assert mail.outbox == []

    settings.PAYMENT_GATEWAY_URL = good_url
    _sweep(1)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00")
    _balanced_and_cached()
    _wait_for_late_answers(started)


def _card_order(settings, token, *, gateway=None):
    product = make_product(price="10.00", on_hand=5)
    user = shopper_new(funds=None)
    cart_fill(user, (product, 2))
    previous = settings.PAYMENT_GATEWAY_URL
    if gateway:
        settings.PAYMENT_GATEWAY_URL = gateway
    try:
        result = order_place(
            shipping_method=shipping_method_everywhere(),
            user=user, payment_method="card", card_token=token, shipping_address=user.addresses.first().pk,
            currency="USD",
        )
    finally:
        settings.PAYMENT_GATEWAY_URL = previous
    return result, product


def test_an_unknown_order_payment_keeps_its_order_and_stock_until_the_provider_answers(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    started = time.monotonic()
    result, product = _card_order(settings, "tok_timeout")
    assert result.outcome == PlaceOutcome.PENDING
    payment = Payment.objects.get(pk=result.order.payment_id)
    good_url = settings.PAYMENT_GATEWAY_URL
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    _sweep(4)
    payment.refresh_from_db()
    order = Order.objects.get(pk=result.order.pk)
    assert (payment.status, order.status) == (Payment.Status.UNKNOWN, Order.Status.PENDING_PAYMENT)
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (5, 2)  # the provider may have charged: nothing released

    settings.PAYMENT_GATEWAY_URL = good_url
    _sweep(1)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 0)
    _wait_for_late_answers(started)


def test_a_payment_the_provider_has_no_charge_for_after_the_last_attempt_fails_without_charging_again(
    psp, settings
):
    settings.PAYMENT_MAX_ATTEMPTS = 2
    result, product = _card_order(settings, "tok_ok", gateway=DEAD_PROVIDER)
    payment = Payment.objects.get(pk=result.order.payment_id)
    assert payment.status == Payment.Status.PROCESSING
    good_url = settings.PAYMENT_GATEWAY_URL
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    _sweep(1)  # attempt 2: no answer to the lookup; nothing decided, nothing sent
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN
    settings.PAYMENT_GATEWAY_URL = good_url
    _sweep(1)  # attempt 3, past the last: the provider says it has no charge for our key
    payment.refresh_from_db()
    assert (payment.status, payment.last_error_code) == (Payment.Status.FAILED, "max_attempts")
    assert not SandboxCharge.objects.exists()
    order = Order.objects.get(pk=result.order.pk)
    assert order.status == Order.Status.CANCELLED
    assert Stock.objects.get(product_id=product.pk).reserved == 0
    # Only the orders app tells the shopper of an order's failed payment: one e-mail.
    assert [m.subject for m in mail.outbox if m.to == [order.user.email] and "did not go through" in m.subject] == [
        f"The payment for order {order.number} did not go through"
    ]


def test_a_failed_order_payment_is_told_to_the_shopper_once_by_the_orders_app_only(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 1
    result, _product = _card_order(settings, "tok_error")  # refused before charging, on the last attempt
    order = Order.objects.get(pk=result.order.pk)
    assert order.status == Order.Status.CANCELLED
    payment_retry_stuck(now=_later())
    failed_mails = [m for m in mail.outbox if "did not go through" in m.subject]
    assert [(m.to, m.subject) for m in failed_mails] == [
        ([order.user.email], f"The payment for order {order.number} did not go through")
    ]


def test_a_failed_deposit_email_that_could_not_be_sent_is_sent_once_by_a_later_sweep(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # the mail server is down
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    payment = wallet_deposit(wallet_id=wallet.pk, amount=usd("25.00"), card_token="tok_error")
    # Failed after the last attempt: the provider was never reached. Its e-mail could not go out.
    payment = payment_get(payment_id=payment.pk)
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_notified_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    payment_retry_stuck()
    payment_retry_stuck()
    payment.refresh_from_db()
    assert payment.failure_notified_at is not None
    assert [m.to for m in mail.outbox] == [[user.email]]


# --- the retry job claims one row at a time ---------------------------------------------------


def test_the_retry_job_leases_each_payment_only_when_it_calls_the_provider_for_it(psp, settings):
    user = VerifiedUserFactory()
    good_url = settings.PAYMENT_GATEWAY_URL
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    payments = []
    for number in range(3):
        payment = payment_create(
            user=user, purpose="order", reference=f"ORD-L{number}", amount=usd("5.00"), method="card",
            card_token="tok_slow",  # the provider answers each charge after 0.5 s
        )
        payments.append(payment_charge_card(payment_id=payment.pk))
    assert {p.status for p in payments} == {Payment.Status.PROCESSING}
    due = timezone.now() - timedelta(minutes=10)
    for number, payment in enumerate(payments):
        Payment.objects.filter(pk=payment.pk).update(next_retry_at=due + timedelta(seconds=number))
    settings.PAYMENT_GATEWAY_URL = good_url

    def sweep():
        try:
            payment_retry_stuck()
        finally:
            connection.close()

    worker = threading.Thread(target=sweep)
    worker.start()
    deadline = time.monotonic() + 20
    while not SandboxCharge.objects.exists():
        assert time.monotonic() < deadline, "the sweep never reached the provider"
        time.sleep(0.01)
    # The first charge is in flight: the payments after it are not leased yet, so a lease never
    # has to outlast the calls queued before its own.
    last = Payment.objects.get(pk=payments[-1].pk)
    worker.join(30)
    assert last.next_retry_at <= timezone.now()
    assert last.attempt_count == 1
    for payment in payments:
        payment.refresh_from_db()
        assert (payment.status, payment.attempt_count) == (Payment.Status.SUCCEEDED, 2)
