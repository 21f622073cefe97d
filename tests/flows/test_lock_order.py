"""Lock order of paying transactions on PostgreSQL: stock rows, then the invoice sequence, on every path.

A card payment confirmed for an order holds its stock rows (the sale) and then takes the invoice
sequence. A wallet checkout of the same product must not hold the sequence while it waits for those
stock rows, or the two deadlock (PostgreSQL then aborts one of them).
"""

import threading
import time

import pytest
from django.db import connection, transaction

from catalog.models import Stock
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.invoices import invoice_issue
from shop.orders.services.transitions import order_lock
from tests.flows.test_invoice_concurrency import _orders
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _lock_waits() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_wallet_checkout_waiting_for_stock_rows_does_not_hold_the_invoice_sequence():
    product = make_product(price="5.00", on_hand=10)
    (paid_order_id,) = _orders(1)  # paid elsewhere (a card), its invoice not issued yet
    buyer = shopper_new(funds="50.00")
    cart_fill(buyer, (product, 1))
    method = shipping_method_everywhere()
    stock_held, buyer_waits = threading.Event(), threading.Event()
    results = {}

    def card_confirmation():
        """What confirming a card payment does: the sale takes the stock rows, then the invoice its number."""
        try:
            with transaction.atomic():
                list(Stock.objects.select_for_update().filter(product=product))
                stock_held.set()
                buyer_waits.wait(10)
                results["card"] = invoice_issue(order_lock(paid_order_id)).sequence
        except Exception as exc:  # a deadlock victim: what the test asserts against
            results["card"] = exc
        finally:
            connection.close()

    def wallet_checkout():
        stock_held.wait(10)
        try:
            results["wallet"] = order_place(
                user=buyer, payment_method="wallet", currency="USD", shipping_method=method,
                shipping_address=buyer.addresses.first().pk,
            ).outcome
        except Exception as exc:
            results["wallet"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=card_confirmation), threading.Thread(target=wallet_checkout)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _lock_waits():  # the checkout queues behind the stock rows
        time.sleep(0.02)
    buyer_waits.set()
    for thread in threads:
        thread.join(60)

    assert results == {"card": 1, "wallet": PlaceOutcome.PAID}, results
