"""The database connection dropped in the middle of a checkout: a clean error, nothing half-written."""

import threading
import time
import uuid

import pytest
import requests
from django.db import connection, transaction

from catalog.models import Stock, StockMovement, StockReservation
from payments.models import IdempotencyKey, LedgerTransaction, Payment, Wallet
from shop.cart.models import CartLine
from shop.orders.models import Order, OrderEvent, OrderLine, OutboxEmail
from tests.accounts.factories import PASSWORD
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.reliability.helpers import assert_invariants
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _blocked_backend(timeout: float = 30) -> int:
    """The pid of the server process of our database waiting for a row lock (the checkout)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            rows = cursor.fetchall()
            if rows:
                assert len(rows) == 1, rows
                return rows[0][0]
            time.sleep(0.05)
    raise AssertionError("the checkout never reached the stock row")


def test_checkout_whose_connection_is_killed_fails_cleanly_and_leaves_nothing_half_written(live_server):
    product = make_product(price="10.00", on_hand=10)
    user = shopper_new(funds="100.00")
    cart_fill(user, (product, 2))
    login = requests.post(
        live_server.url + "/_allauth/app/v1/auth/login", json={"email": user.email, "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    headers = {"X-Session-Token": login.json()["meta"]["session_token"], "Idempotency-Key": str(uuid.uuid4())}
    body = {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": user.addresses.first().pk, "currency": "USD"}
    ledger_before = LedgerTransaction.objects.count()
    answers = []

    def checkout():
        answers.append(requests.post(live_server.url + "/api/v1/orders/", json=body, headers=headers, timeout=60))

    # Hold the stock row, so the checkout stops inside its transaction: order, lines and event
    # written, the reservation's guarded UPDATE waiting. Then its connection is killed.
    with transaction.atomic():
        Stock.objects.select_for_update().get(product_id=product.pk)
        thread = threading.Thread(target=checkout)
        thread.start()
        pid = _blocked_backend()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    thread.join(60)

    answer = answers[0]
    assert answer.status_code == 500
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["code"] == "server_error"  # a clean JSON error, no traceback
    # Nothing of the checkout remains: no order, line, event, e-mail, payment, reservation or posting.
    for model in (Order, OrderLine, OrderEvent, OutboxEmail, Payment, StockReservation):
        assert not model.objects.exists(), model
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.RESERVATION).exists()
    assert LedgerTransaction.objects.count() == ledger_before
    assert Wallet.objects.get(user=user).balance == 100
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (10, 0)
    assert CartLine.objects.filter(cart__user=user).count() == 1  # the cart is still there to retry
    assert not IdempotencyKey.objects.exists()  # the crashed request's key was released
    assert_invariants()

    # The shopper retries with the same key: the shop answers normally with a fresh connection.
    retry = requests.post(live_server.url + "/api/v1/orders/", json=body, headers=headers, timeout=60)
    assert retry.status_code == 201, retry.text
    assert Order.objects.get().status == Order.Status.PAID
    assert Wallet.objects.get(user=user).balance == 80
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (8, 0)
    assert_invariants()
