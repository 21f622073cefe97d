"""Random sequences of money operations with injected provider faults keep the ledger's invariants.

Hypothesis draws (seeded) sequences of deposits, withdrawals, wallet spends,
card orders, refunds, webhook redeliveries and retry-job runs against the
real sandbox provider, whose card tokens inject declines, errors before
charging, flaky answers and timeouts after charging. After every sequence
(and once all open payments are settled by the retry job):

- every ledger transaction sums to zero per currency;
- each wallet's cached balance equals the sum of its entries, and none is negative;
- the card charges we count as succeeded are exactly the provider's successful charges,
  and the same holds for payouts (timed-out and flaky payouts included: an unknown payout
  is looked up, never guessed failed and reversed).
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from djmoney.money import Money
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from payments import selectors
from payments.exceptions import InsufficientFunds, RefundNotAllowed, WithdrawalCardNotAllowed
from payments.models import Payment, PaymentAttempt, Refund, Wallet, WebhookEvent, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout
from payments.services.charges import payment_charge_card, payment_create, payment_pay_with_wallet
from payments.services.payouts import wallet_withdraw
from payments.services.refunds import payment_refund
from payments.services.sweep import payment_retry_stuck
from payments.services.wallets import wallet_deposit
from payments.webhooks import signature_header
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_funded_by_card, wallet_with_balance

CARD_TOKENS = ["tok_ok", "tok_ok", "tok_declined", "tok_insufficient", "tok_error", "tok_flaky", "tok_timeout"]
# Deposits also fund the wallets with cards whose payouts fail, so that refused payouts happen.
DEPOSIT_TOKENS = [*CARD_TOKENS, "tok_payout_declined", "tok_payout_error"]
# A withdrawal goes only to a card that funded the wallet (all of these did, see the test's set-up,
# except tok_declined, which never funds anything and is refused). Payouts whose answer is lost
# (tok_timeout) or that fail before paying twice (tok_flaky) are looked up by key, never guessed.
PAYOUT_TOKENS = ["tok_ok", "tok_payout_declined", "tok_payout_error", "tok_declined", "tok_timeout", "tok_flaky"]

cents = st.integers(min_value=1, max_value=6000).map(lambda c: Decimal(c) / 100)
who = st.integers(min_value=0, max_value=1)
operation = st.one_of(
    st.tuples(st.just("deposit"), who, cents, st.sampled_from(DEPOSIT_TOKENS)),
    st.tuples(st.just("withdraw"), who, cents, st.sampled_from(PAYOUT_TOKENS)),
    st.tuples(st.just("spend"), who, cents),
    st.tuples(st.just("card_order"), who, cents, st.sampled_from(CARD_TOKENS)),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=100)),
    st.tuples(st.just("redeliver"), st.integers(min_value=0, max_value=50)),
    st.tuples(st.just("retry")),
)


def _later():
    return timezone.now() + timedelta(hours=3)


def _redeliver(payment):
    """Send the provider's final event for a payment (again), as a late or duplicate webhook."""
    charge = SandboxCharge.objects.filter(idempotency_key=payment.provider_key).first()
    if charge is None:
        return
    body = json.dumps(
        {
            "id": f"evt_{charge.id}",
            "type": f"charge.{charge.status}",
            "created": int(timezone.now().timestamp()),
            "data": {"id": charge.id, "status": charge.status, "idempotency_key": charge.idempotency_key},
        }
    ).encode()
    from django.conf import settings

    response = Client().post(
        "/payments/webhooks/psp/",
        data=body,
        content_type="application/json",
        HTTP_PSP_SIGNATURE=signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET),
    )
    assert response.status_code == 200


def _apply(op, users, wallets, counter):
    kind = op[0]
    counter[0] += 1
    n = counter[0]
    if kind == "deposit":
        _kind, i, amount, token = op
        wallet_deposit(wallet_id=wallets[i].pk, amount=Money(amount, "USD"), card_token=token)
    elif kind == "withdraw":
        _kind, i, amount, token = op
        try:
            wallet_withdraw(wallet_id=wallets[i].pk, amount=Money(amount, "USD"), card_token=token)
        except (InsufficientFunds, WithdrawalCardNotAllowed):
            pass
    elif kind == "spend":
        _kind, i, amount = op
        try:
            with transaction.atomic():  # as inside an order's transaction
                payment = payment_create(
                    user=users[i], purpose="order", reference=f"H-{n}", amount=Money(amount, "USD"), method="wallet"
                )
                payment_pay_with_wallet(payment_id=payment.pk)
        except InsufficientFunds:
            pass
    elif kind == "card_order":
        _kind, i, amount, token = op
        payment = payment_create(
            user=users[i], purpose="order", reference=f"H-{n}", amount=Money(amount, "USD"), method="card", card_token=token
        )
        payment_charge_card(payment_id=payment.pk)
    elif kind == "refund":
        _kind, pick, percent = op
        paid = list(
            Payment.objects.filter(
                purpose="order", status__in=[Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED]
            ).order_by("pk")
        )
        if paid:
            payment = paid[pick % len(paid)]
            amount = (payment.refundable.amount * percent / 100).quantize(Decimal("0.01"))
            if amount > 0:
                try:
                    payment_refund(
                        payment_id=payment.pk, amount=Money(amount, "USD"), reference=f"HR-{n}", reason="hypothesis"
                    )
                except RefundNotAllowed:
                    pass
    elif kind == "redeliver":
        _kind, pick = op
        card = list(Payment.objects.filter(method="card").order_by("pk"))
        if card:
            _redeliver(card[pick % len(card)])
    elif kind == "retry":
        payment_retry_stuck(now=_later())


def _settle_everything(max_attempts):
    for _ in range(max_attempts + 2):
        if not (
            Payment.objects.filter(status__in=Payment.OPEN_STATUSES).exists()
            or Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING).exists()
            or Refund.objects.filter(status=Refund.Status.PENDING).exists()
        ):
            return
        payment_retry_stuck(now=_later())
    raise AssertionError("payments, payouts or refunds still open after the last attempt")


def _assert_invariants():
    assert not selectors.ledger_unbalanced_transactions().exists()
    assert selectors.wallets_with_wrong_cached_balance() == []
    assert not Wallet.objects.filter(balance__lt=0).exists()
    ours = {
        (p.provider_key, p.amount.amount)
        for p in Payment.objects.filter(
            method="card",
            status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED, Payment.Status.PARTIALLY_REFUNDED],
        )
    }
    theirs = {(c.idempotency_key, c.amount.amount) for c in SandboxCharge.objects.filter(status="succeeded")}
    assert ours == theirs
    our_payouts = {
        (w.provider_key, w.amount.amount) for w in Withdrawal.objects.filter(status=Withdrawal.Status.SUCCEEDED)
    }
    their_payouts = {(p.idempotency_key, p.amount.amount) for p in SandboxPayout.objects.filter(status="succeeded")}
    assert our_payouts == their_payouts


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_random_operations_with_provider_faults_keep_the_ledger_invariants(psp, settings):
    settings.PAYMENT_MAX_ATTEMPTS = 3
    settings.PAYMENT_READ_TIMEOUT = 0.6
    users = [VerifiedUserFactory(), VerifiedUserFactory()]
    # Each wallet starts funded by the cards its withdrawals may go back to.
    for user, amounts in zip(users, (("20.00", "15.00", "15.00"), ("1.00", "1.00", "1.00")), strict=True):
        for amount, token in zip(amounts, ("tok_ok", "tok_payout_declined", "tok_payout_error"), strict=True):
            wallet_funded_by_card(user, amount, card_token=token)
    wallets = [wallet_with_balance(users[0]), wallet_with_balance(users[1])]
    # Cards whose charges answer late or fail first also fund the wallets once settled.
    for wallet in wallets:
        for token in ("tok_timeout", "tok_flaky"):
            wallet_deposit(wallet_id=wallet.pk, amount=Money("5.00", "USD"), card_token=token)
    _settle_everything(settings.PAYMENT_MAX_ATTEMPTS)
    counter = [0]

    @seed(20261122)
    @hsettings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(operation, min_size=1, max_size=10))
    def run(ops):
        for op in ops:
            _apply(op, users, wallets, counter)
            assert not Wallet.objects.filter(balance__lt=0).exists()
        _settle_everything(settings.PAYMENT_MAX_ATTEMPTS)
        _assert_invariants()

    run()
    # The sequences did exercise every kind of movement (the test is not vacuous).
    assert counter[0] >= 30
    assert Payment.objects.filter(method="card", status=Payment.Status.SUCCEEDED).exists()
    assert Payment.objects.filter(status=Payment.Status.FAILED).exists()
    assert Withdrawal.objects.filter(status=Withdrawal.Status.SUCCEEDED).exists()
    assert Withdrawal.objects.filter(status=Withdrawal.Status.FAILED).exists()  # refused payouts were reversed
    assert Refund.objects.exists() and WebhookEvent.objects.exists()
    # Payouts whose answer was lost or refused were looked up by key before anything else was done.
    assert Withdrawal.objects.filter(card_token="tok_timeout", status=Withdrawal.Status.SUCCEEDED).exists()
    assert Withdrawal.objects.filter(card_token="tok_flaky", status=Withdrawal.Status.SUCCEEDED).exists()
    assert PaymentAttempt.objects.filter(withdrawal__card_token="tok_timeout", kind="lookup", outcome="succeeded").exists()
