"""Shipments under real concurrency on PostgreSQL: a double click, two staff members, a click and a carrier."""

from collections import Counter

import pytest

from catalog.models import Stock, StockMovement
from payments.models import Wallet
from shop.orders.exceptions import ShipmentExceedsAllocation
from shop.orders.models import Order, OrderEvent, OutboxEmail, Shipment, ShipmentLine
from shop.orders.services.checkout import order_place
from shop.orders.services.shipments import order_cancel_unshipped, shipment_create, shipment_deliver
from tests.flows.test_concurrency import run_in_threads
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _paid_order(quantity=3, price="10.00"):
    user = shopper_new(funds="100.00")
    product = make_product(price=price, on_hand=10)
    cart_fill(user, (product, quantity))
    order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD").order
    line = order.lines.get()
    return order, line, line.allocations.get().warehouse, product


def _counters():
    return sorted(Stock.objects.values_list("id", "on_hand", "reserved", "committed")), StockMovement.objects.count()


def _shipped_out(product):
    """(on hand, committed, SHIPMENT movements' committed change) of the product's stock."""
    stock = Stock.objects.get(product=product)
    moved = StockMovement.objects.filter(product=product, kind=StockMovement.Kind.SHIPMENT)
    return stock.on_hand, stock.committed, sum(moved.values_list("committed_delta", flat=True))


def test_a_double_clicked_shipment_is_made_once_and_moves_the_stock_once():
    order, line, warehouse, product = _paid_order()
    carrier = carrier_new()
    assert _shipped_out(product) == (7, 3, 0)

    def click():
        return shipment_create(order=order.pk, lines={line.pk: 3}, warehouse=warehouse.pk, carrier=carrier.pk,
                               tracking_number="DOUBLE1").pk

    results = run_in_threads([click for _ in range(8)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    assert Shipment.objects.count() == 1 and ShipmentLine.objects.get().quantity == 3
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert OrderEvent.objects.filter(order=order, to_status="shipped").count() == 1
    assert OutboxEmail.objects.filter(order=order, kind="order_shipped").count() == 1
    assert _shipped_out(product) == (7, 0, -3)  # the three units left committed once


def test_two_staff_shipping_the_same_units_under_different_numbers_ship_them_once():
    order, line, warehouse, product = _paid_order(quantity=3)  # 2 of 3 per parcel: the order stays open
    carrier = carrier_new()

    def ship(number):
        def call():
            return shipment_create(order=order.pk, lines={line.pk: 2}, warehouse=warehouse.pk, carrier=carrier.pk,
                                   tracking_number=number).pk
        return call

    results = run_in_threads([ship(f"N{i}") for i in range(6)])
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"int": 1, ShipmentExceedsAllocation.__name__: 5}, results
    assert sum(ShipmentLine.objects.values_list("quantity", flat=True)) == 2
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert _shipped_out(product) == (7, 1, -2)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SHIPMENT).count() == 1


def test_two_concurrent_creations_of_the_same_parcel_move_the_stock_once():
    order, line, warehouse, product = _paid_order(quantity=2)
    carrier = carrier_new()
    before = _counters()

    def create():
        return shipment_create(order=order.pk, lines={line.pk: 2}, warehouse=warehouse.pk, carrier=carrier.pk,
                               tracking_number="SAME1").pk

    results = run_in_threads([create, create])
    assert len(set(results)) == 1 and all(isinstance(r, int) for r in results), results
    assert _shipped_out(product) == (8, 0, -2)
    after = _counters()
    assert after[1] == before[1] + 1  # one SHIPMENT movement


def test_concurrent_deliveries_of_the_last_parcel_deliver_the_order_once():
    order, line, warehouse, _product = _paid_order(quantity=1)
    parcel = shipment_create(order=order, lines={line: 1}, warehouse=warehouse, carrier=carrier_new(),
                             tracking_number="LAST1")
    results = run_in_threads([lambda: shipment_deliver(shipment=parcel.pk).status for _ in range(6)])
    assert results == ["delivered"] * 6, results
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert OrderEvent.objects.filter(order=order, to_status="delivered").count() == 1


def test_cancelling_the_rest_twice_at_once_refunds_and_restocks_once():
    order, line, warehouse, product = _paid_order(quantity=3)
    shipment_create(order=order, lines={line: 1}, warehouse=warehouse, carrier=carrier_new(), tracking_number="P1")
    stock = Stock.objects.get(product=product, warehouse=warehouse)
    wallet = Wallet.objects.get(user=order.user)
    assert wallet.balance == 70

    results = run_in_threads([lambda: order_cancel_unshipped(order_id=order.pk).status for _ in range(4)])
    assert "shipped" in results, results
    wallet.refresh_from_db()
    assert wallet.balance == 90  # two units refunded once
    # The two units that never shipped go from committed back on hand, once.
    assert (stock.on_hand, stock.committed) == (7, 2)
    assert Stock.objects.values_list("on_hand", "committed").get(pk=stock.pk) == (9, 0)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SALE_CANCELLED).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    line.refresh_from_db()
    assert line.refunded_quantity == 2
    assert_ledger_balanced()
