"""Retry workers racing and a worker killed mid-task: the provider charges once, the ledger posts once."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Stock
from payments.models import LedgerTransaction, Payment
from payments.psp_sandbox.models import SandboxCharge
from payments.services import payment_retry, payment_retry_stuck
from shop.orders.models import Order
from shop.orders.services import PlaceOutcome, order_expire_reservations, order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.reliability.helpers import (
    assert_invariants,
    child_env,
    run_at_once,
    start_worker,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DEAD_PROVIDER = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: connection refused, nothing charged


def _stuck_order(settings, *, token: str, product, gateway: str):
    """A card order whose first charge went to `gateway`; its payment is left for the retry job."""
    user = shopper_new(funds=None)
    cart_fill(user, (product, 1))
    previous, settings.PAYMENT_GATEWAY_URL = settings.PAYMENT_GATEWAY_URL, gateway
    try:
        result = order_place(
            user=user, payment_method="card", card_token=token, shipping_address=user.addresses.first().pk,
            currency="USD",
        )
    finally:
        settings.PAYMENT_GATEWAY_URL = previous
    assert result.outcome == PlaceOutcome.PENDING
    return result.order, Payment.objects.get(pk=result.order.payment_id)


def _due_now(*payments):
    Payment.objects.filter(pk__in=[p.pk for p in payments]).update(next_retry_at=timezone.now() - timedelta(seconds=1))


def _assert_paid_once(order, payment):
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.events.filter(to_status=Order.Status.PAID).count() == 1


def test_two_retry_sweeps_at_once_take_disjoint_payments_and_charge_each_once(psp, settings):
    product = make_product(price="10.00", on_hand=10)
    # tok_timeout: the provider charged, the answer was lost (unknown); four at once to save time.
    stuck = run_at_once([lambda: _stuck_order(settings, token="tok_timeout", product=product, gateway=psp)] * 4)
    assert not [s for s in stuck if isinstance(s, Exception)], stuck
    _due_now(*[payment for _order, payment in stuck])

    retried = run_at_once([payment_retry_stuck, payment_retry_stuck])

    assert not [r for r in retried if isinstance(r, Exception)], retried
    assert sum(retried) == 4  # every stuck payment was taken by exactly one worker
    for order, payment in stuck:
        _assert_paid_once(order, payment)
    assert Stock.objects.get(product_id=product.pk).on_hand == 6
    assert_invariants()


def test_two_workers_retrying_the_same_payment_at_once_charge_it_once(psp, settings):
    product = make_product(price="10.00", on_hand=10)
    # Never reached the provider; tok_slow keeps the second worker's charge in flight beside the first.
    order, payment = _stuck_order(settings, token="tok_slow", product=product, gateway=DEAD_PROVIDER)
    assert payment.status == Payment.Status.PROCESSING

    results = run_at_once([lambda: payment_retry(payment_id=payment.pk)] * 2)

    assert not [r for r in results if isinstance(r, Exception)], results
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
