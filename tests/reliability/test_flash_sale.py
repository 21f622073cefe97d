"""Flash sale: 200 buyers from four processes race for 20 units."""

import json
from collections import Counter

import pytest

from catalog.models import Stock, StockReservation
from payments.models import LedgerTransaction, Payment, Wallet
from shop.orders.models import Order, OrderLine
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.reliability.helpers import (
    assert_invariants,
    child_env,
    start_worker,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BUYERS = 200
UNITS = 20
PROCESSES = 4
THREADS_PER_PROCESS = 6


def test_flash_sale_from_several_processes_sells_exactly_the_stock():
    product = make_product(price="10.00", on_hand=UNITS)
    buyers = []
    for _ in range(BUYERS):
        user = shopper_new(funds="25.00")
        cart_fill(user, (product, 1))
        buyers.append(user.pk)

    chunks = [buyers[i::PROCESSES] for i in range(PROCESSES)]
    env = child_env()
    workers = [start_worker("checkout", str(THREADS_PER_PROCESS), *map(str, chunk), env=env) for chunk in chunks]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err.decode()[-3000:]
        results += json.loads(out.decode().strip().splitlines()[-1])

    assert len(results) == BUYERS
    outcomes = Counter(result for _user, result in results)
    assert outcomes == {"paid": UNITS, "out_of_stock": BUYERS - UNITS}, outcomes
    winners = {user for user, result in results if result == "paid"}

    # No overselling; every sold unit is one paid order of one winner; the losers left nothing behind.
    assert Order.objects.count() == UNITS
    assert set(Order.objects.filter(status=Order.Status.PAID).values_list("user_id", flat=True)) == winners
    assert OrderLine.objects.filter(product=product).count() == UNITS
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (0, 0)
    assert StockReservation.objects.count() == UNITS
    assert not StockReservation.objects.filter(status="open").exists()

    # Money: 20 wallet payments of 10.00, posted once each; 180 wallets untouched.
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == UNITS
    assert Payment.objects.exclude(status=Payment.Status.SUCCEEDED).count() == 0
    assert LedgerTransaction.objects.filter(kind="purchase").count() == UNITS
    balances = Counter(str(b) for b in Wallet.objects.values_list("balance", flat=True))
    assert balances == {"15.00": UNITS, "25.00": BUYERS - UNITS}, balances
    assert_invariants()
