"""A 30-second provider outage under load, with the circuit breaker, a real Celery worker and beat.

Several threads pay by card (deposits and card checkouts) before, during and
after an outage switched on at the sandbox. The breaker opens (503
`provider_unavailable`, nothing written), the worker's retry sweep pauses, a
probe closes it once the provider is back, and then every payment settles:
none double-charged, none lost, reconciliation clean.
"""

import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from payments.breaker import BreakerState, breaker_state
from payments.models import Payment
from payments.psp_sandbox.models import SandboxCharge
from payments.reconciliation.runs import reconciliation_run
from shop.orders.models import Order
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.reliability.helpers import assert_invariants
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30
LOAD_SECONDS = OUTAGE_SECONDS + 12  # load starts before the outage and goes on after it
THREADS = 6
SETTLE_TIMEOUT = 300
BREAKER = {"PROVIDER_BREAKER_THRESHOLD": 3, "PROVIDER_BREAKER_WINDOW_SECONDS": 10, "PROVIDER_BREAKER_COOLDOWN_SECONDS": 5}


@pytest.fixture
def breaker_env(celery_env, settings):
    """A small breaker (3 failures, 5 s cool-down) for this process and the worker alike; checkout unthrottled."""
    for name, value in BREAKER.items():
        setattr(settings, name, value)
        celery_env[name] = str(value)
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "checkout": "100000/min", "user": "100000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return celery_env


def _sweep_every_three_seconds() -> None:
    every, _created = IntervalSchedule.objects.get_or_create(every=3, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="retry-stuck-payments-outage-test",
        defaults={"task": "payments.tasks.retry_stuck_payments", "interval": every, "enabled": True},
    )


def _deposit_load(user, wallet_id: int, deadline: float, answers: Counter, lock: threading.Lock) -> None:
    client = APIClient()
    client.force_authenticate(user)
    try:
        while time.monotonic() < deadline:
            response = client.post(
                f"/api/v1/wallets/{wallet_id}/deposits/",
                {"amount": {"amount": "3.00", "currency": "USD"}, "card_token": "tok_ok"},
                format="json",
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            with lock:
                answers[(response.status_code, response.json().get("code", "") if response.status_code >= 400 else "")] += 1
            time.sleep(0.3)
    finally:
        connection.close()


def _checkout_load(user, product, deadline: float, answers: Counter, lock: threading.Lock) -> None:
    client = APIClient()
    client.force_authenticate(user)
    address = user.addresses.first().pk
    try:
        while time.monotonic() < deadline:
            cart_fill(user, (product, 1))
            response = client.post(
                "/api/v1/orders/",
                {"payment_method": "card", "card_token": "tok_ok", "shipping_method": shipping_method_everywhere(), "shipping_address": address},
                format="json",
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            with lock:
                answers[(response.status_code, response.json().get("code", "") if response.status_code >= 400 else "")] += 1
            time.sleep(0.3)
    finally:
        connection.close()


def _open_payments():
    return Payment.objects.filter(
        method=Payment.Method.CARD, status__in=[Payment.Status.PENDING, *Payment.OPEN_STATUSES]
    )


def test_a_provider_outage_under_load_settles_every_payment_once(breaker_env, celery_worker, celery_beat, wait_until):
    """503 provider_unavailable while the breaker is open, the sweep paused, and afterwards every card payment
    succeeded exactly once at the provider, every order paid, reconciliation clean."""
    product = make_product(price="2.00", on_hand=100000)
    depositors = [shopper_new(funds="0") for _ in range(THREADS // 2)]
    buyers = [shopper_new(funds=None) for _ in range(THREADS - THREADS // 2)]
    _sweep_every_three_seconds()
    beat = celery_beat()

    answers, lock = Counter(), threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS
    threads = [
        threading.Thread(target=_deposit_load, args=(u, u.wallets.get().pk, deadline, answers, lock))
        for u in depositors
    ] + [threading.Thread(target=_checkout_load, args=(u, product, deadline, answers, lock)) for u in buyers]
    for thread in threads:
        thread.start()
    time.sleep(4)
    switched = requests.post(
        breaker_env["PAYMENT_GATEWAY_URL"] + "v1/outage",
        json={"seconds": OUTAGE_SECONDS},
        headers={"Authorization": "Bearer sk_sandbox_dev"},
        timeout=5,
    )
    assert switched.status_code == 200, switched.text
    outage_started = time.monotonic()
    wait_until(lambda: breaker_state() != BreakerState.CLOSED, timeout=OUTAGE_SECONDS, what="the breaker to open")
    for thread in threads:
        thread.join(LOAD_SECONDS + 60)
    assert time.monotonic() - outage_started > OUTAGE_SECONDS  # the load went on past the outage

    log = lambda: f"answers {dict(answers)}\n--- beat ---\n{beat.log()[-3000:]}\n--- worker ---\n{celery_worker.log()[-6000:]}"  # noqa: E731
    wait_until(lambda: not _open_payments().exists(), timeout=SETTLE_TIMEOUT, interval=1, what="every payment to settle\n" + log())

    # What the shoppers saw: paid, accepted while unknown, and refused fast while the breaker was open.
    assert answers[(201, "")] > 0, log()
    assert answers[(503, "provider_unavailable")] > 0, log()
    assert set(answers) <= {(201, ""), (202, ""), (503, "provider_unavailable")}, log()
    assert "retry sweep paused" in celery_worker.log(), log()
    assert breaker_state() == BreakerState.CLOSED

    # None lost: every card payment made succeeded (a refusal made none), every order is paid.
    payments = Payment.objects.filter(method=Payment.Method.CARD)
    assert payments.count() == answers[(201, "")] + answers[(202, "")]
    assert set(payments.values_list("status", flat=True)) == {Payment.Status.SUCCEEDED}, log()
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.PAID}
    # None double-charged: one provider charge per payment, for its amount, and the books agree.
    assert SandboxCharge.objects.count() == payments.count()
    deposited = sum((Decimal("3.00") for p in payments if p.purpose == Payment.Purpose.WALLET_DEPOSIT), Decimal(0))
    assert sum((u.wallets.get().balance for u in depositors), Decimal(0)) == deposited
    assert_invariants(settled=True)
    run = reconciliation_run(day=timezone.now().date())
    assert run.items.count() == 0, list(run.items.values_list("kind", "object_id", "detail"))
