"""Card payments against the sandbox provider over HTTP: outcomes, retries, webhooks, refunds."""

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from payments import handlers, selectors
from payments.exceptions import InsufficientFunds, RefundNotAllowed, WalletNotFound
from payments.gateway import get_gateway
from payments.models import LedgerAccount, LedgerTransaction, Payment, PaymentAttempt, Refund, WebhookEvent
from payments.psp_sandbox.models import SandboxCharge, SandboxRefund
from payments.services import charges, payouts, refunds, sweep, wallets
from payments.tasks import send_payment_failed_email
from payments.webhooks import signature_header
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_funded_by_card, wallet_with_balance

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_PROVIDER = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: refused before anything is sent


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def _later():
    return timezone.now() + timedelta(hours=2)


def _deposit(wallet, token, amount="25.00"):
    return wallets.wallet_deposit(wallet_id=wallet.pk, amount=usd(amount), card_token=token)


def _ledger_count(payment):
    return LedgerTransaction.objects.filter(reference=payment.ledger_reference).count()


@pytest.mark.parametrize(
    ("token", "status", "error_code", "balance"),
    [
        ("tok_ok", Payment.Status.SUCCEEDED, "", "25.00"),
        ("tok_slow", Payment.Status.SUCCEEDED, "", "25.00"),
        ("tok_declined", Payment.Status.FAILED, "card_declined", "0.00"),
        ("tok_insufficient", Payment.Status.FAILED, "insufficient_funds", "0.00"),
        ("tok_error", Payment.Status.PROCESSING, "processing_error", "0.00"),
        ("tok_flaky", Payment.Status.PROCESSING, "processing_error", "0.00"),
        ("tok_timeout", Payment.Status.UNKNOWN, None, "0.00"),
    ],
)
def test_deposit_with_each_sandbox_token_ends_in_the_right_state(psp, token, status, error_code, balance):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, token)
    assert payment.status == status
    if error_code is not None:
        assert payment.last_error_code == error_code
    wallet.refresh_from_db()
    assert wallet.balance == Decimal(balance)
    assert _ledger_count(payment) == (1 if status == Payment.Status.SUCCEEDED else 0)
    assert payment.attempts.filter(kind=PaymentAttempt.Kind.CHARGE).count() == 1
    if status in Payment.OPEN_STATUSES:
        assert payment.next_retry_at > timezone.now()


def test_timeout_is_unknown_then_one_retry_run_settles_it_with_one_charge(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN
    assert sweep.payment_retry_stuck(now=_later()) == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert SandboxCharge.objects.count() == 1
    assert _ledger_count(payment) == 1
    assert payment.provider_charge_id == SandboxCharge.objects.get().id
    # The retry asked first and did not charge again.
    assert list(payment.attempts.values_list("kind", flat=True)) == ["charge", "lookup"]
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00")
    # Another run finds nothing to do.
    assert sweep.payment_retry_stuck(now=_later()) == 0


def _send_webhook(event: dict, *, secret="whsec_dev_only", timestamp=None):
    body = json.dumps(event).encode()
    return Client().post(
        "/payments/webhooks/psp/",
        data=body,
        content_type="application/json",
        HTTP_PSP_SIGNATURE=signature_header(payload=body, secret=secret, timestamp=timestamp),
    )


def _charge_event(payment, kind="succeeded", event_id=None, created=None):
    charge = SandboxCharge.objects.filter(idempotency_key=payment.provider_key).first()
    return {
        "id": event_id or f"evt_{payment.pk}_{kind}",
        "type": f"charge.{kind}",
        "created": created or int(timezone.now().timestamp()),
        "data": {
            "id": charge.id if charge else "ch_test",
            "object": "charge",
            "status": kind,
            "amount": str(payment.amount.amount),
            "currency": payment.amount.currency.code,
            "idempotency_key": payment.provider_key,
            "reference": payment.reference,
            "failure_code": "card_declined" if kind == "failed" else "",
        },
    }


def test_timeout_settled_by_webhook_posts_once_even_when_redelivered(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN
    event = _charge_event(payment)
    first = _send_webhook(event)
    again = _send_webhook(event)
    assert first.status_code == 200 and first.json()["result"] == "succeeded"
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert _ledger_count(payment) == 1
    # The retry job has nothing left to do, and a retry would not charge again.
    assert sweep.payment_retry_stuck(now=_later()) == 0
    assert SandboxCharge.objects.count() == 1


def test_a_late_failure_event_never_unsucceeds_a_payment(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_ok")
    # An older failure event arrives after the success.
    older = int((timezone.now() - timedelta(seconds=30)).timestamp())
    response = _send_webhook(_charge_event(payment, kind="failed", created=older))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00")


def test_a_failure_event_after_the_success_event_changes_nothing(psp):
    """Success first, then a failure event: the first final outcome stands; nothing asked, nothing refunded."""
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")
    assert _send_webhook(_charge_event(payment, kind="succeeded")).json()["result"] == "succeeded"
    assert _send_webhook(_charge_event(payment, kind="failed")).json()["result"] == "succeeded"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert _ledger_count(payment) == 1
    assert not payment.attempts.filter(kind=PaymentAttempt.Kind.LOOKUP).exists()
    assert not Refund.objects.exists()


def test_an_older_failure_event_arriving_first_is_checked_with_the_provider_and_the_payment_succeeds(psp):
    """Failure (older) then success: the provider says the charge succeeded, so it succeeds, with no refund."""
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")  # charged at the provider; our answer was lost
    assert payment.status == Payment.Status.UNKNOWN
    older = int((timezone.now() - timedelta(seconds=30)).timestamp())
    assert _send_webhook(_charge_event(payment, kind="failed", created=older)).json()["result"] == "succeeded"
    assert _send_webhook(_charge_event(payment, kind="succeeded")).json()["result"] == "succeeded"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.provider_charge_id == SandboxCharge.objects.get().id
    assert list(payment.attempts.values_list("kind", flat=True)) == ["charge", "lookup"]
    assert _ledger_count(payment) == 1
    assert not Refund.objects.exists() and not SandboxRefund.objects.exists()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00")
    assert mail.outbox == []


def test_a_failure_event_is_applied_as_the_provider_confirms_it(psp, settings):
    wallet = wallet_with_balance(VerifiedUserFactory())
    good_url = settings.PAYMENT_GATEWAY_URL
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    payment = _deposit(wallet, "tok_declined")  # never reached the provider
    assert payment.status == Payment.Status.PROCESSING
    settings.PAYMENT_GATEWAY_URL = good_url
    # The provider has no charge for the key yet: an event saying "failed" settles nothing.
    assert _send_webhook(_charge_event(payment, kind="failed", event_id="evt_1")).json()["result"] == "unconfirmed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PROCESSING
    # The charge reaches the provider (a request still in flight) and is declined there.
    get_gateway().charge(
        idempotency_key=payment.provider_key, amount=payment.amount, token="tok_declined", reference=payment.reference
    )
    assert _send_webhook(_charge_event(payment, kind="failed", event_id="evt_2")).json()["result"] == "failed"
    payment.refresh_from_db()
    assert (payment.status, payment.last_error_code) == (Payment.Status.FAILED, "card_declined")
    assert payment.attempts.filter(kind=PaymentAttempt.Kind.LOOKUP).count() == 2
    assert len(mail.outbox) == 1  # the shopper learns of it by e-mail: the deposit's answer said "processing"


def test_flaky_provider_is_retried_with_the_same_key_and_charged_once(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_flaky")
    assert payment.status == Payment.Status.PROCESSING
    sweep.payment_retry_stuck(now=_later())
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PROCESSING  # second call also fails before charging
    sweep.payment_retry_stuck(now=_later())
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert _ledger_count(payment) == 1
    assert payment.attempt_count == 3


def test_after_the_last_attempt_the_payment_fails_and_the_shopper_is_told(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 3
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    payment = _deposit(wallet, "tok_error")
    for _ in range(5):
        sweep.payment_retry_stuck(now=_later())
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.attempt_count == 3
    assert payment.next_retry_at is None
    assert SandboxCharge.objects.count() == 0
    assert _ledger_count(payment) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert mail.outbox[0].subject == "Your wallet deposit of $25.00 did not go through"
    assert payment.failure_notified_at is not None
    # The job running again, and the task sent again, tell nobody twice.
    sweep.payment_retry_stuck(now=_later())
    send_payment_failed_email.delay(payment.pk)
    assert len(mail.outbox) == 1


def test_retry_waits_for_next_retry_at(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")
    assert sweep.payment_retry_stuck() == 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN


@pytest.mark.postgres
def test_two_retry_workers_at_once_take_each_payment_once(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payments = [_deposit(wallet, "tok_flaky", amount="1.00") for _ in range(4)]
    for payment in payments:
        payment.refresh_from_db()
        assert payment.status == Payment.Status.PROCESSING
    barrier = threading.Barrier(2)
    counts = []

    def worker():
        try:
            barrier.wait()
            counts.append(sweep.payment_retry_stuck(now=_later()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 4
    for payment in payments:
        payment.refresh_from_db()
        assert payment.attempt_count == 2
        assert payment.attempts.filter(kind=PaymentAttempt.Kind.LOOKUP).count() == 1


def test_order_payment_by_card_calls_the_handler_and_posts_revenue(psp):
    calls = []
    orders_handlers = handlers.get(Payment.Purpose.ORDER)  # restored below for the tests that follow
    handlers.register(
        Payment.Purpose.ORDER,
        on_succeeded=lambda p: calls.append(("ok", p.reference)),
        on_failed=lambda p: calls.append(("failed", p.reference)),
        on_refunded=lambda p, r: calls.append(("refunded", r.reference)),
    )
    try:
        user = VerifiedUserFactory()
        payment = charges.payment_create(
            user=user, purpose="order", reference="ORD-1", amount=usd("40.00"), method="card", card_token="tok_ok"
        )
        payment = charges.payment_charge_card(payment_id=payment.pk)
        assert payment.status == Payment.Status.SUCCEEDED
        declined = charges.payment_create(
            user=user, purpose="order", reference="ORD-2", amount=usd("5.00"), method="card", card_token="tok_declined"
        )
        declined = charges.payment_charge_card(payment_id=declined.pk)
        assert declined.status == Payment.Status.FAILED
        assert declined.last_error_code == "card_declined"
        # Charging a settled payment again does nothing.
        assert charges.payment_charge_card(payment_id=payment.pk).status == Payment.Status.SUCCEEDED
        assert SandboxCharge.objects.filter(status="succeeded").count() == 1

        refund = refunds.payment_refund(payment_id=payment.pk, amount=usd("15.00"), reference="RET-1", reason="r")
        assert refund.status == Refund.Status.SUCCEEDED
        same = refunds.payment_refund(payment_id=payment.pk, amount=usd("15.00"), reference="RET-1", reason="r")
        assert same.pk == refund.pk
        payment.refresh_from_db()
        assert payment.status == Payment.Status.PARTIALLY_REFUNDED
        with pytest.raises(RefundNotAllowed):
            refunds.payment_refund(payment_id=payment.pk, amount=usd("25.01"), reference="RET-2", reason="r")
        refunds.payment_refund(payment_id=payment.pk, amount=usd("25.00"), reference="RET-3", reason="r")
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REFUNDED
        assert calls == [("ok", "ORD-1"), ("failed", "ORD-2"), ("refunded", "RET-1"), ("refunded", "RET-3")]
        assert not selectors.ledger_unbalanced_transactions().exists()
    finally:
        handlers.unregister(Payment.Purpose.ORDER)
        if orders_handlers is not None:
            handlers.register(
                Payment.Purpose.ORDER,
                on_succeeded=orders_handlers.on_succeeded,
                on_failed=orders_handlers.on_failed,
                on_refunded=orders_handlers.on_refunded,
            )


def test_order_payment_by_wallet_debits_and_refunds_to_the_wallet():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "50.00")
    payment = charges.payment_create(user=user, purpose="order", reference="ORD-9", amount=usd("30.00"), method="wallet")
    payment = charges.payment_pay_with_wallet(payment_id=payment.pk)
    assert payment.status == Payment.Status.SUCCEEDED
    assert charges.payment_pay_with_wallet(payment_id=payment.pk).status == Payment.Status.SUCCEEDED
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("20.00")
    too_much = charges.payment_create(user=user, purpose="order", reference="ORD-10", amount=usd("20.01"), method="wallet")
    with pytest.raises(InsufficientFunds):
        charges.payment_pay_with_wallet(payment_id=too_much.pk)
    other = charges.payment_create(user=user, purpose="order", reference="ORD-11", amount=Money("1.00", "EUR"), method="wallet")
    with pytest.raises(WalletNotFound):
        charges.payment_pay_with_wallet(payment_id=other.pk)
    refunds.payment_refund(payment_id=payment.pk, amount=usd("30.00"), reference="RET-9", reason="return")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("50.00")
    assert selectors.wallets_with_wrong_cached_balance() == []
    assert not selectors.ledger_unbalanced_transactions().exists()


def test_withdrawal_pays_out_and_a_declined_payout_is_reversed(psp):
    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "90.00", card_token="tok_ok")
    wallet = wallet_funded_by_card(user, "10.00", card_token="tok_payout_declined")
    withdrawal = payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("40.00"), card_token="tok_ok")
    assert withdrawal.status == "succeeded"
    declined = payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("10.00"), card_token="tok_payout_declined")
    assert declined.status == "failed"
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("60.00")
    with pytest.raises(InsufficientFunds):
        payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("60.01"), card_token="tok_ok")
    assert selectors.wallets_with_wrong_cached_balance() == []


def test_a_card_refund_the_provider_did_not_answer_is_retried_once_it_is_back(psp, settings):
    user = VerifiedUserFactory()
    payment = charges.payment_create(
        user=user, purpose="order", reference="ORD-R", amount=usd("20.00"), method="card", card_token="tok_ok"
    )
    payment = charges.payment_charge_card(payment_id=payment.pk)
    good_url = settings.PAYMENT_GATEWAY_URL
    settings.PAYMENT_GATEWAY_URL = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: refused before sending
    refund = refunds.payment_refund(payment_id=payment.pk, amount=usd("20.00"), reference="RET-R", reason="r")
    assert refund.status == Refund.Status.PENDING
    # A pending refund holds its amount: no second refund beyond the payment.
    with pytest.raises(RefundNotAllowed):
        refunds.payment_refund(payment_id=payment.pk, amount=usd("0.01"), reference="RET-R2", reason="r")
    settings.PAYMENT_GATEWAY_URL = good_url
    assert sweep.payment_retry_stuck(now=_later()) == 1
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert payment.status == Payment.Status.REFUNDED
    assert LedgerTransaction.objects.filter(reference=refund.ledger_reference).count() == 1
    assert SandboxRefund.objects.count() == 1


def _late_charge(payment):
    """The provider charges the payment's key after we gave up (a request that was still in flight)."""
    result = get_gateway().charge(
        idempotency_key=payment.provider_key, amount=payment.amount, token=payment.card_token, reference=payment.reference
    )
    assert result.outcome == "succeeded"
    return SandboxCharge.objects.get(idempotency_key=payment.provider_key)


def _account_total(purpose, currency="USD"):
    account = LedgerAccount.objects.filter(user=None, purpose=purpose, currency=currency).first()
    return selectors.account_balance(account=account) if account else Decimal("0")


def test_a_charge_made_after_the_payment_failed_here_is_refunded_durably_even_when_the_provider_is_down(
    psp, settings
):
    settings.PAYMENT_MAX_ATTEMPTS = 1
    good_url = settings.PAYMENT_GATEWAY_URL
    wallet = wallet_with_balance(VerifiedUserFactory())
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    payment = _deposit(wallet, "tok_ok")
    assert payment.status == Payment.Status.FAILED  # the only attempt never reached the provider
    settings.PAYMENT_GATEWAY_URL = good_url
    charge = _late_charge(payment)

    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER  # the provider is unreachable when the refund is first tried
    response = _send_webhook(_charge_event(payment))
    assert response.json()["result"] == "failed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    refund = Refund.objects.get(payment=payment)
    assert (refund.kind, refund.status, refund.amount) == (Refund.Kind.LATE_CHARGE, Refund.Status.PENDING, payment.amount)
    assert refund.next_retry_at is not None
    assert not SandboxRefund.objects.exists()
    # The late charge is on the books at once: the shop owes it back.
    assert _account_total(LedgerAccount.Purpose.REFUNDS_PAYABLE) == Decimal("25.00")

    # Redelivery (a new event id) and the job while the provider is still down change nothing.
    _send_webhook(_charge_event(payment, event_id="evt_again"))
    sweep.payment_retry_stuck(now=_later())
    assert Refund.objects.count() == 1 and not SandboxRefund.objects.exists()

    settings.PAYMENT_GATEWAY_URL = good_url
    assert sweep.payment_retry_stuck(now=_later()) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    given_back = SandboxRefund.objects.get()
    assert (given_back.charge_id, given_back.amount, given_back.idempotency_key) == (
        charge.id, charge.amount, refund.provider_key
    )
    assert sweep.payment_retry_stuck(now=_later()) == 0
    _send_webhook(_charge_event(payment, event_id="evt_third"))
    assert SandboxRefund.objects.count() == 1 and Refund.objects.count() == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("0.00")
    assert _ledger_count(payment) == 0
    assert LedgerTransaction.objects.filter(reference=refund.ledger_reference).count() == 1
    assert _account_total(LedgerAccount.Purpose.REFUNDS_PAYABLE) == Decimal("0.00")
    assert _account_total(LedgerAccount.Purpose.PROVIDER_CLEARING) == Decimal("0.00")
    assert not selectors.ledger_unbalanced_transactions().exists()


def test_the_sandboxs_own_signed_webhook_settles_a_timed_out_deposit(psp, settings):
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = True
    settings.PSP_SANDBOX_WEBHOOK_URL = ""  # default: /payments/webhooks/psp/ on the calling host
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = _deposit(wallet, "tok_timeout")
    deadline = timezone.now() + timedelta(seconds=15)
    while timezone.now() < deadline:
        payment.refresh_from_db()
        if payment.status == Payment.Status.SUCCEEDED:
            break
        time.sleep(0.1)
    assert payment.status == Payment.Status.SUCCEEDED
    assert WebhookEvent.objects.filter(type="charge.succeeded", result="succeeded").count() == 1
    assert SandboxCharge.objects.count() == 1
    assert _ledger_count(payment) == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00")
