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
    return sorted(Stock.objects.values_list("id", "on_hand", "reserved")), StockMovement.objects.count()


def test_a_double_clicked_shipment_is_made_once():
    order, line, warehouse, _product = _paid_order()
    carrier = carrier_new()
    before = _counters()

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
    assert _counters() == before  # the stock moved once, at the sale, and not again


def test_two_staff_shipping_the_same_units_under_different_numbers_ship_them_once():
    order, line, warehouse, _product = _paid_order(quantity=3)  # 2 of 3 per parcel: the order stays open
    carrier = carrier_new()
    before = _counters()

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
    assert _counters() == before


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
    assert Stock.objects.get(pk=stock.pk).on_hand == stock.on_hand + 2
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    line.refresh_from_db()
    assert line.refunded_quantity == 2
    assert_ledger_balanced()
