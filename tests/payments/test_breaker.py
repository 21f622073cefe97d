"""The provider's circuit breaker: its state machine, the gateway behind it, and what the API does while it is open."""

import time
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from djmoney.money import Money
from rest_framework.test import APIClient

from catalog.models import StockReservation
from payments import breaker
from payments.breaker import BreakerState, BreakerTicket
from payments.exceptions import ProviderUnavailable
from payments.gateway import Outcome, PaymentAttemptError, get_gateway
from payments.models import IdempotencyKey, Payment
from payments.psp_sandbox import services as sandbox
from payments.psp_sandbox.models import SandboxCharge
from payments.services import sweep, wallets
from shop.orders.models import Order
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import stock_of
from tests.payments.fixtures import wallet_with_balance
from tests.shipping.factories import shipping_method_everywhere


@pytest.fixture
def small_breaker(settings):
    settings.PROVIDER_BREAKER_THRESHOLD = 3
    settings.PROVIDER_BREAKER_WINDOW_SECONDS = 60
    settings.PROVIDER_BREAKER_COOLDOWN_SECONDS = 30


def fail(times: int) -> None:
    for _ in range(times):
        ticket = breaker.breaker_call_begin()
        assert ticket == BreakerTicket.CALL
        breaker.breaker_call_end(ticket=ticket, failed=True)


def open_breaker() -> None:
    """Open the breaker the way failures do (through the same calls the gateway makes)."""
    from django.conf import settings

    for _ in range(settings.PROVIDER_BREAKER_THRESHOLD):
        if breaker.breaker_state() == BreakerState.OPEN:
            break
        fail(1)
    assert breaker.breaker_state() == BreakerState.OPEN


def cool_down() -> None:
    """Let the cool-down pass: the breaker was opened a cool-down (and a second) ago."""
    from django.conf import settings

    cache.set(breaker.KEY_OPENED_AT, time.time() - settings.PROVIDER_BREAKER_COOLDOWN_SECONDS - 1, timeout=None)


# --- the state machine ----------------------------------------------------------------


def test_breaker_opens_after_threshold_failures_in_a_row(small_breaker):
    assert breaker.breaker_state() == BreakerState.CLOSED
    fail(2)
    assert breaker.breaker_state() == BreakerState.CLOSED
    breaker.breaker_refuse_if_open()  # closed: no error
    fail(1)
    assert breaker.breaker_state() == BreakerState.OPEN
    assert breaker.breaker_call_begin() is None
    with pytest.raises(ProviderUnavailable) as refused:
        breaker.breaker_refuse_if_open()
    assert refused.value.status_code == 503
    assert 1 <= int(refused.value.response_headers()["Retry-After"]) <= 30
    assert refused.value.as_dict()["code"] == "provider_unavailable"


def test_an_answer_starts_the_failure_count_again(small_breaker):
    fail(2)
    ticket = breaker.breaker_call_begin()
    breaker.breaker_call_end(ticket=ticket, failed=False)
    fail(2)
    assert breaker.breaker_state() == BreakerState.CLOSED
    fail(1)
    assert breaker.breaker_state() == BreakerState.OPEN


def test_after_the_cool_down_one_probe_goes_through_and_its_answer_closes_the_breaker(small_breaker):
    open_breaker()
    cool_down()
    assert breaker.breaker_state() == BreakerState.HALF_OPEN
    assert not breaker.breaker_is_refusing()
    probe = breaker.breaker_call_begin()
    assert probe == BreakerTicket.PROBE
    # While the probe is out, every other call is refused as if open.
    assert breaker.breaker_call_begin() is None
    assert breaker.breaker_is_refusing()
    with pytest.raises(ProviderUnavailable):
        breaker.breaker_refuse_if_open()
    breaker.breaker_call_end(ticket=probe, failed=False)
    assert breaker.breaker_state() == BreakerState.CLOSED
    assert breaker.breaker_call_begin() == BreakerTicket.CALL
    assert breaker.breaker_status() == {"state": "closed", "failures": 0}


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(small_breaker):
    open_breaker()
    cool_down()
    probe = breaker.breaker_call_begin()
    breaker.breaker_call_end(ticket=probe, failed=True)
    assert breaker.breaker_state() == BreakerState.OPEN
    assert breaker.breaker_retry_after() >= 29
    assert breaker.breaker_call_begin() is None
    status = breaker.breaker_status()
    assert status["state"] == "open" and status["retry_after"] >= 29


def test_failures_of_calls_that_were_in_flight_do_not_extend_an_open_breaker(small_breaker):
    in_flight = [breaker.breaker_call_begin() for _ in range(5)]
    for ticket in in_flight[:3]:
        breaker.breaker_call_end(ticket=ticket, failed=True)
    opened_at = cache.get(breaker.KEY_OPENED_AT)
    for ticket in in_flight[3:]:
        breaker.breaker_call_end(ticket=ticket, failed=True)
    assert cache.get(breaker.KEY_OPENED_AT) == opened_at


# --- the gateway and the sandbox's outage switch, over HTTP ----------------------------------


def test_a_provider_outage_opens_the_breaker_and_then_nothing_is_sent(psp, small_breaker):
    gateway = get_gateway()
    amount = Money(Decimal("5.00"), "USD")
    sandbox.outage_start(seconds=120)
    for n in range(3):
        result = gateway.charge(idempotency_key=f"k-{n}", amount=amount, token="tok_ok", reference="r")
        assert result.status_code == 503, result
        assert result.error_code == "service_unavailable"
        assert result.outcome == Outcome.UNKNOWN
    assert breaker.breaker_state() == BreakerState.OPEN
    sandbox.outage_end()
    refused = gateway.charge(idempotency_key="k-open", amount=amount, token="tok_ok", reference="r")
    assert refused.outcome == Outcome.RETRYABLE
    assert refused.error_code == PaymentAttemptError.CIRCUIT_OPEN
    assert refused.status_code is None
    lookup = gateway.get_charge(idempotency_key="k-open")
    assert (lookup.outcome, lookup.error_code) == (Outcome.UNKNOWN, PaymentAttemptError.CIRCUIT_OPEN)
    assert not SandboxCharge.objects.exists()
    # The provider is back; after the cool-down the next call is the probe, and it closes the breaker.
    cool_down()
    probe = gateway.charge(idempotency_key="k-probe", amount=amount, token="tok_ok", reference="r")
    assert probe.outcome == Outcome.SUCCEEDED
    assert breaker.breaker_state() == BreakerState.CLOSED
    assert SandboxCharge.objects.filter(idempotency_key="k-probe").count() == 1


def test_the_sandbox_outage_switch_over_http(psp):
    import requests

    headers = {"Authorization": "Bearer sk_sandbox_dev"}
    started = requests.post(psp + "v1/outage", json={"seconds": 60}, headers=headers, timeout=5)
    assert started.status_code == 200 and started.json()["outage"] is True
    down = requests.get(psp + "v1/charges", params={"idempotency_key": "x"}, headers=headers, timeout=5)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "service_unavailable"
    assert requests.post(psp + "v1/outage", json={"seconds": -1}, headers=headers, timeout=5).status_code == 400
    assert requests.post(psp + "v1/outage", json={"seconds": 5}, timeout=5).status_code == 401
    ended = requests.delete(psp + "v1/outage", headers=headers, timeout=5)
    assert ended.json() == {"outage": False, "remaining_seconds": 0.0}
    up = requests.get(psp + "v1/charges", params={"idempotency_key": "x"}, headers=headers, timeout=5)
    assert up.status_code == 404


# --- what shoppers and staff see while it is open ------------------------------------------------


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_open_breaker_refuses_a_deposit_at_once_and_writes_nothing(psp, small_breaker):
    user = shopper_new(funds=None)
    wallet = wallet_with_balance(user)
    open_breaker()
    client = api_for(user)
    body = {"amount": {"amount": "20.00", "currency": "USD"}, "card_token": "tok_ok"}
    response = client.post(f"/api/v1/wallets/{wallet.pk}/deposits/", body, format="json", headers={"Idempotency-Key": "dep-1"})
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "provider_unavailable"
    assert 1 <= int(response["Retry-After"]) <= 30
    assert response.json()["retry_after"] == int(response["Retry-After"])
    assert not Payment.objects.exists()
    assert not SandboxCharge.objects.exists()
    assert not IdempotencyKey.objects.exists()  # the key is free: the same request may be sent again
    # Back: the same key now deposits.
    breaker.breaker_reset()
    again = client.post(f"/api/v1/wallets/{wallet.pk}/deposits/", body, format="json", headers={"Idempotency-Key": "dep-1"})
    assert again.status_code == 201, again.content
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("20.00")


def test_an_open_breaker_refuses_a_card_checkout_before_reserving_while_wallet_checkout_works(psp, small_breaker):
    shopper = shopper_new(funds="100.00")
    product = make_product(price="10.00", on_hand=5)
    cart_fill(shopper, (product, 2))
    open_breaker()
    client = api_for(shopper)
    address = shopper.addresses.first().pk
    card = client.post(
        "/api/v1/orders/", {"payment_method": "card", "card_token": "tok_ok", "shipping_method": shipping_method_everywhere(), "shipping_address": address},
        format="json", headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert card.status_code == 503, card.content
    assert card.json()["code"] == "provider_unavailable"
    assert int(card["Retry-After"]) >= 1
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert not StockReservation.objects.exists()
    assert stock_of(product) == (5, 0)
    assert not SandboxCharge.objects.exists()
    # The cart is kept, and the wallet pays for it while the provider is down.
    wallet = client.post(
        "/api/v1/orders/", {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": address},
        format="json", headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert wallet.status_code == 201, wallet.content
    assert wallet.json()["status"] == "paid"
    assert breaker.breaker_state() == BreakerState.OPEN


def test_the_retry_sweep_pauses_while_open_and_settles_once_the_probe_closes_it(psp, small_breaker):
    user = shopper_new(funds=None)
    wallet = wallet_with_balance(user)
    payment = wallets.wallet_deposit(
        wallet_id=wallet.pk, amount=Money(Decimal("7.00"), "USD"), card_token="tok_timeout", user=user
    )
    assert payment.status == Payment.Status.UNKNOWN
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=payment.created_at)
    open_breaker()
    assert sweep.payment_retry_stuck() == 0
    payment.refresh_from_db()
    assert (payment.status, payment.attempt_count) == (Payment.Status.UNKNOWN, 1)
    cool_down()
    assert sweep.payment_retry_stuck() == 1  # the lookup is the probe; the provider answers
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert breaker.breaker_state() == BreakerState.CLOSED
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1


def test_healthz_and_the_staff_dashboard_show_the_breaker(db, settings, small_breaker):
    from django.contrib.auth.models import Permission

    client = Client()
    assert client.get("/healthz").json()["checks"]["provider_breaker"] == {"status": "closed", "failures": 0}
    open_breaker()
    health = client.get("/healthz")
    assert health.status_code == 200  # the shop still serves: wallets, browsing
    assert health.json()["checks"]["provider_breaker"]["status"] == "open"
    staff = shopper_new(funds=None)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_staff_reports"))
    client.force_login(staff)
    page = client.get("/admin/staff/dashboard/")
    assert page.status_code == 200
    assert "circuit breaker open" in page.content.decode()
