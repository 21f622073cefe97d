"""Retry workers racing and a worker killed mid-task: the provider charges once, the ledger posts once.

The races are between separate worker processes (each its own interpreter
and connection pool, as two Celery workers would be), released together.
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Stock
from payments.models import LedgerTransaction, Payment, PaymentAttempt, Refund, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout, SandboxRefund
from payments.services import payouts
from payments.services.sweep import payment_retry_stuck
from shop.orders.models import Order
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.transitions import order_expire_reservations, order_refund
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.fixtures import wallet_funded_by_card
from tests.reliability.helpers import (
    assert_invariants,
    child_env,
    run_at_once,
    start_worker,
    start_workers_together,
    worker_result,
)
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DEAD_PROVIDER = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: connection refused, nothing charged


def _stuck_order(settings, *, token: str, product, gateway: str):
    """A card order whose first charge went to `gateway`; its payment is left for the retry job."""
    user = shopper_new(funds=None)
    cart_fill(user, (product, 1))
    previous, settings.PAYMENT_GATEWAY_URL = settings.PAYMENT_GATEWAY_URL, gateway
    try:
        result = order_place(
            shipping_method=shipping_method_everywhere(),
            user=user, payment_method="card", card_token=token, shipping_address=user.addresses.first().pk,
            currency="USD",
        )
    finally:
        settings.PAYMENT_GATEWAY_URL = previous
    assert result.outcome == PlaceOutcome.PENDING
    return result.order, Payment.objects.get(pk=result.order.payment_id)


def _due_now(*rows):
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))


def _assert_paid_once(order, payment):
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.events.filter(to_status=Order.Status.PAID).count() == 1


def test_two_retry_workers_at_once_take_disjoint_rows_and_settle_each_once(psp, settings):
    product = make_product(price="10.00", on_hand=20)
    # tok_timeout: the provider charged, the answer was lost (unknown); four at once to save time.
    stuck = run_at_once([lambda: _stuck_order(settings, token="tok_timeout", product=product, gateway=psp)] * 4)
    assert not [s for s in stuck if isinstance(s, Exception)], stuck
    # Never reached the provider: the retry job charges them (tok_slow holds one worker 0.5 s).
    for token in ("tok_ok", "tok_ok", "tok_slow"):
        stuck.append(_stuck_order(settings, token=token, product=product, gateway=DEAD_PROVIDER))
    # A payout and a refund whose requests never got through.
    wallet = wallet_funded_by_card(shopper_new(funds=None), "50.00", card_token="tok_ok")
    refunded = shopper_new(funds=None)
    cart_fill(refunded, (product, 2))
    paid = order_place(
        shipping_method=shipping_method_everywhere(),
        user=refunded, payment_method="card", card_token="tok_ok", shipping_address=refunded.addresses.first().pk,
        currency="USD",
    ).order
    settings.PAYMENT_GATEWAY_URL = DEAD_PROVIDER
    withdrawal = payouts.wallet_withdraw(wallet_id=wallet.pk, amount=Money("20.00", "USD"), card_token="tok_ok")
    order_refund(order_id=paid.pk, reason="customer asked")
    settings.PAYMENT_GATEWAY_URL = psp
    refund = Refund.objects.get()
    assert (withdrawal.status, refund.status) == (Withdrawal.Status.PROCESSING, Refund.Status.PENDING)
    payments = [payment for _order, payment in stuck]
    _due_now(*payments, withdrawal, refund)
    attempts_before = {p.pk: Payment.objects.get(pk=p.pk).attempt_count for p in payments}
    lookups_before = PaymentAttempt.objects.filter(kind=PaymentAttempt.Kind.LOOKUP).count()

    # Two retry_stuck_payments tasks in two worker processes, released at the same instant.
    workers = start_workers_together(("retry",), ("retry",), env=child_env(PAYMENT_GATEWAY_URL=psp))
    rounds = [worker_result(worker) for worker in workers]

    assert sum(rounds) == len(payments) + 2, rounds  # every stuck row was taken by exactly one worker
    assert all(rounds), f"one worker took every row: {rounds}; the race did not happen"
    for payment in payments:
        payment.refresh_from_db()
        assert payment.attempt_count == attempts_before[payment.pk] + 1  # one round each, not one per worker
    # One lookup per row (payments, payout, refund without its charge id are looked up once each).
    assert PaymentAttempt.objects.filter(kind=PaymentAttempt.Kind.LOOKUP).count() - lookups_before == len(payments) + 1
    for order, payment in stuck:
        _assert_paid_once(order, payment)
    withdrawal.refresh_from_db()
    refund.refresh_from_db()
    assert (withdrawal.status, refund.status) == (Withdrawal.Status.SUCCEEDED, Refund.Status.SUCCEEDED)
    assert (SandboxPayout.objects.count(), SandboxRefund.objects.count()) == (1, 1)
    assert LedgerTransaction.objects.filter(reference=refund.ledger_reference).count() == 1
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    assert Stock.objects.get(product_id=product.pk).on_hand == 20 - len(stuck)  # the refunded order restocked
    assert_invariants()


def test_two_workers_retrying_the_same_payment_at_once_charge_it_once(psp, settings):
    product = make_product(price="10.00", on_hand=10)
    # Never reached the provider; tok_slow keeps the second worker's charge in flight beside the first.
    order, payment = _stuck_order(settings, token="tok_slow", product=product, gateway=DEAD_PROVIDER)
    assert payment.status == Payment.Status.PROCESSING

    workers = start_workers_together(
        ("retry-payment", str(payment.pk)), ("retry-payment", str(payment.pk)), env=child_env(PAYMENT_GATEWAY_URL=psp)
    )
    statuses = [worker_result(worker) for worker in workers]

    assert Payment.Status.SUCCEEDED in statuses, statuses
    _due_now(payment)
    payment_retry_stuck()  # whichever answer a worker missed, the next sweep settles it without charging
    _assert_paid_once(order, payment)
    assert Stock.objects.get(product_id=product.pk).on_hand == 9
    assert_invariants()


def test_a_worker_killed_after_the_provider_charged_is_rerun_without_doing_anything_twice(psp, settings):
    product = make_product(price="10.00", on_hand=10)
    order, payment = _stuck_order(settings, token="tok_timeout", product=product, gateway=DEAD_PROVIDER)
    _due_now(payment)

    # The retry task in its own process; the sandbox charges at once, then holds the answer back.
    worker = start_worker("retry", env=child_env(PAYMENT_GATEWAY_URL=psp, PAYMENT_READ_TIMEOUT="30"))
    deadline = time.monotonic() + 60
    while not SandboxCharge.objects.filter(idempotency_key=payment.provider_key).exists():
        assert worker.poll() is None, worker.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, "the worker never reached the provider"
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # between the provider's charge and our commit
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PROCESSING  # nothing settled: the worker died mid-call
    assert not LedgerTransaction.objects.filter(reference=payment.ledger_reference).exists()
    assert_invariants(settled=False)  # the death left nothing half-written
    # Its lease still holds: a sweep now leaves the payment alone.
    assert payment_retry_stuck() == 0

    _due_now(payment)  # the lease ran out; the beat job reruns the task
    assert payment_retry_stuck() == 1
    _due_now(payment)
    assert payment_retry_stuck() == 0  # and once more: nothing left to do

    _assert_paid_once(order, payment)
    assert Stock.objects.get(product_id=product.pk).on_hand == 9
    assert_invariants()


def test_a_checkout_killed_after_the_provider_charged_keeps_its_stock_and_is_paid_once_by_the_retry_job(psp):
    product = make_product(price="10.00", on_hand=3)
    user = shopper_new(funds=None)
    cart_fill(user, (product, 2))

    # The web worker running the checkout dies after the provider charged, before the answer came back.
    worker = start_worker(
        "checkout-card", str(user.pk), "tok_timeout", env=child_env(PAYMENT_GATEWAY_URL=psp, PAYMENT_READ_TIMEOUT="30")
    )
    deadline = time.monotonic() + 60
    while not SandboxCharge.objects.exists():
        assert worker.poll() is None, worker.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, "the checkout never reached the provider"
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)

    order = Order.objects.get(user=user)  # the order and its reservation were committed before the call
    payment = Payment.objects.get(pk=order.payment_id)
    assert (order.status, payment.status) == (Order.Status.PENDING_PAYMENT, Payment.Status.PROCESSING)
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (3, 2)
    assert_invariants(settled=False)  # the death left nothing half-written

    # The reservation expiring meanwhile must not release stock the shopper may have paid for.
    assert order_expire_reservations(now=timezone.now() + timedelta(hours=1)) == 0
    _due_now(payment)
    assert payment_retry_stuck() == 1
    _due_now(payment)
    assert payment_retry_stuck() == 0

    _assert_paid_once(order, payment)
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (1, 0)
    assert_invariants()
