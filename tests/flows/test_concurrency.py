"""Real concurrent checkouts on PostgreSQL: no overselling, no deadlocks, the ledger stays balanced."""

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Stock, StockReservation
from payments.models import Payment, Wallet
from shop.orders.models import Order
from shop.orders.services.transitions import order_expire_reservations
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced, stock_of
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(functions):
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def worker(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # a crash is a result the test asserts on
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_checkout_never_oversells_under_concurrency():
    product = make_product(price="10.00", on_hand=10)
    buyers = []
    for _ in range(50):
        user = shopper_new(funds="30.00")
        cart_fill(user, (product, 1))
        buyers.append(user)

    def checkout(user):
        def call():
            client = APIClient()
            client.force_authenticate(user)
            response = client.post(
                "/api/v1/orders/", {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": user.addresses.first().pk},
                format="json", headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            return response.status_code, response.json().get("code")
        return call

    results = run_in_threads([checkout(user) for user in buyers])

    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for status, _code in results)
    assert statuses == {201: 10, 409: 40}, results
    assert {code for status, code in results if status == 409} == {"out_of_stock"}
    assert Order.objects.filter(status=Order.Status.PAID).count() == 10
    assert Order.objects.count() == 10  # the 40 refused checkouts left nothing behind
    assert stock_of(product) == (0, 0)
    assert not Stock.objects.filter(on_hand__lt=0).exists()
    assert not Stock.objects.filter(reserved__lt=0).exists()
    assert sorted(Wallet.objects.values_list("balance", flat=True)).count(20) == 10
    assert Payment.objects.filter(status="succeeded").count() == 10
    assert_ledger_balanced()


def test_concurrent_expiry_jobs_release_a_reservation_exactly_once():
    from payments.services.charges import payment_create
    from shop.cart.services import CartOwner, cart_clear
    from shop.orders.services.checkout import _address_snapshot, _order_create, checkout_lines

    product = make_product(on_hand=10)
    user = shopper_new()
    orders = []
    for _ in range(3):
        cart_fill(user, (product, 2))
        order = _order_create(
            user=user, currency="USD", method="card",
            address=_address_snapshot(user=user, shipping_address=user.addresses.first().pk),
            lines=checkout_lines(user=user, currency="USD"), checkout_token="",
        )
        payment_create(user=user, purpose="order", reference=order.number, amount=order.total, method="card", card_token="tok_ok")
        cart_clear(owner=CartOwner(user=user))
        orders.append(order)
    Order.objects.update(reservation_expires_at=timezone.now() - timedelta(minutes=1))
    assert stock_of(product) == (10, 6)

    results = run_in_threads([order_expire_reservations for _ in range(4)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 3
    assert stock_of(product) == (10, 0)
    assert StockReservation.objects.filter(status="released").count() == 3
    assert Order.objects.filter(status=Order.Status.CANCELLED).count() == 3
    for order in orders:
        assert order.events.filter(to_status="cancelled").count() == 1


def test_double_submit_with_one_checkout_token_makes_one_order():
    from shop.orders.services.checkout import order_place

    product = make_product(on_hand=10)
    user = shopper_new()
    cart_fill(user, (product, 1))

    def place():
        result = order_place(
            shipping_method=shipping_method_everywhere(),
            user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD",
            checkout_token="same-token",
        )
        return result.order.number

    results = run_in_threads([place, place, place])
    numbers = {r for r in results if isinstance(r, str)}
    assert len(numbers) == 1, results
    assert Order.objects.count() == 1
    assert stock_of(product) == (9, 0)
    assert_ledger_balanced()


def test_the_same_idempotency_key_sent_twice_at_once_makes_one_order():
    product = make_product(price="10.00", on_hand=10)
    user = shopper_new(funds="50.00")
    cart_fill(user, (product, 2))
    body = {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": user.addresses.first().pk}

    def checkout():
        client = APIClient()
        client.force_authenticate(user)
        response = client.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": "twice-at-once"})
        return response.status_code, response.json()

    results = run_in_threads([checkout, checkout])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Order.objects.count() == 1
    number = Order.objects.get().number
    for status, body in results:
        # The stored (or the first) answer, or told that the first is still running.
        assert (status == 201 and body["number"] == number) or (status, body["code"]) == (409, "request_in_progress")
    assert any(status == 201 for status, _body in results)
    assert Payment.objects.count() == 1
    assert Wallet.objects.get(user=user).balance == 30
    assert stock_of(product) == (8, 0)
    assert_ledger_balanced()


@pytest.mark.parametrize("method", ["wallet", "card"])
def test_one_cart_checked_out_from_several_windows_at_once_is_one_order(method, psp):
    """Four windows place the same cart at once, each with its own Idempotency-Key: one order, one charge."""
    from payments.psp_sandbox.models import SandboxCharge
    from shop.cart.models import CartLine

    product = make_product(price="10.00", on_hand=50)
    user = shopper_new(funds="100.00")
    cart_fill(user, (product, 2))

    def checkout():
        client = APIClient()
        client.force_authenticate(user)
        body = {"payment_method": method, "shipping_method": shipping_method_everywhere(), "shipping_address": user.addresses.first().pk}
        if method == "card":
            body["card_token"] = "tok_ok"
        response = client.post(
            "/api/v1/orders/", body, format="json", headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        return response.status_code, response.json().get("code")

    results = run_in_threads([checkout] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert [status for status, _code in results].count(201) == 1, results
    # The others either waited on the cart and found it taken, or came after and found it empty.
    assert {(status, code) for status, code in results if status != 201} <= {
        (409, "cart_changed"), (400, "cart_empty")
    }, results
    assert Order.objects.count() == 1 and Order.objects.get().status == Order.Status.PAID
    assert Payment.objects.count() == 1
    if method == "card":
        assert SandboxCharge.objects.count() == 1
    else:
        assert Wallet.objects.get(user=user).balance == 80
    assert stock_of(product) == (48, 0)
    assert not CartLine.objects.filter(cart__user=user).exists()
    assert_ledger_balanced()


def test_a_single_use_voucher_on_twenty_carts_checked_out_at_once_discounts_one_order():
    from shop.cart.models import Cart
    from shop.orders.services.checkout import order_place
    from shop.pricing.exceptions import VoucherExhausted
    from shop.pricing.models import Voucher
    from tests.pricing.factories import make_voucher

    make_voucher("ONCE", percentage="10", usage_limit=1)
    method = shipping_method_everywhere()
    product = make_product(price="10.00", on_hand=50)
    buyers = []
    for _ in range(20):
        user = shopper_new(funds="30.00")
        cart_fill(user, (product, 1))
        Cart.objects.filter(user=user).update(voucher_code="ONCE")
        buyers.append(user)

    def place(user):
        return lambda: order_place(
            user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD",
            shipping_method=method,
        ).order.number

    results = run_in_threads([place(user) for user in buyers])
    placed = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, VoucherExhausted)]
    assert len(placed) == 1 and len(refused) == 19, [type(r).__name__ for r in results]
    order = Order.objects.get()
    assert order.voucher_code == "ONCE" and str(order.total.amount) == "9.00"
    assert Voucher.objects.get(code="ONCE").uses == 1
    assert stock_of(product) == (49, 0)
    assert Payment.objects.count() == 1  # the refused checkouts made nothing
    assert_ledger_balanced()
