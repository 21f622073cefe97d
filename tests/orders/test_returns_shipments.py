"""Returns follow shipments: only shipped units come back, to the warehouse they left from; shipping only with all."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog.models import Stock
from catalog.services.stock import stock_restock
from shop.core.exceptions import InvalidTransition
from shop.core.reconciliation import reconciliation_checks
from shop.orders.exceptions import ReturnInvalid
from shop.orders.models import ShipmentLine
from shop.orders.reconciliation import shipments_within_allocations_check, stock_committed_check
from shop.orders.services import returns
from shop.orders.services.checkout import order_place
from shop.orders.services.returns import return_request_approve, return_request_create, return_request_reject
from shop.orders.services.shipments import order_cancel_unshipped, shipment_create
from tests.catalog.factories import make_warehouse
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_two_warehouses(db):
    """A paid order: 4 x A at 10.00 (2 allocated from main, 2 from east) and 1 x B at 5.00 (main)."""
    user = shopper_new(funds="100.00")
    a = make_product(price="10.00", on_hand=2)
    b = make_product(price="5.00", on_hand=5)
    east = make_warehouse("east", priority=5)
    stock_restock(product_id=a.pk, warehouse_id=east.pk, quantity=3, reason="delivery")
    cart_fill(user, (a, 4), (b, 1))
    order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD").order
    return order, user, order.lines.get(product=a), order.lines.get(product=b), east, carrier_new()


def on_hand(line, warehouse) -> int:
    return Stock.objects.get(variant_id=line.variant_id, warehouse=warehouse).on_hand


def committed(line, warehouse) -> int:
    """Units of the line's variant sold and waiting to ship in the warehouse."""
    return Stock.objects.get(variant_id=line.variant_id, warehouse=warehouse).committed


def test_a_return_names_shipped_units_only_and_not_more_than_shipped_less_returned(order_two_warehouses):
    order, user, line_a, line_b, east, carrier = order_two_warehouses
    with pytest.raises(InvalidTransition):  # nothing shipped: nothing to return
        return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="x")
    shipment_create(order=order, lines={line_a: 2}, warehouse=east, carrier=carrier, tracking_number="E1")
    with pytest.raises(ReturnInvalid) as exc:  # B has not shipped
        return_request_create(order_id=order.pk, user=user, lines={line_b.pk: 1}, reason="x")
    assert exc.value.field == "lines"
    with pytest.raises(ReturnInvalid):  # 4 bought, 2 shipped
        return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 3}, reason="x")
    first = return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="scratched")
    return_request_approve(return_id=first.pk)
    with pytest.raises(ReturnInvalid):  # 2 shipped, 1 returned
        return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 2}, reason="x")
    pending = return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="also")
    with pytest.raises(ReturnInvalid):  # the last shipped one is in a request already
        return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="x")
    return_request_reject(return_id=pending.pk, reason="worn")
    return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="asking again")


def test_an_approved_return_refunds_the_line_and_restocks_the_warehouse_it_shipped_from(order_two_warehouses):
    order, user, line_a, line_b, east, carrier = order_two_warehouses
    main = line_a.allocations.exclude(warehouse=east).get().warehouse
    shipment_create(order=order, lines={line_a: 2}, warehouse=east, carrier=carrier, tracking_number="E1")
    shipment_create(order=order, lines={line_a: 2, line_b: 1}, warehouse=main, carrier=carrier,
                    tracking_number="M1")
    east_before, main_before = on_hand(line_a, east), on_hand(line_a, main)
    assert (committed(line_a, east), committed(line_a, main)) == (0, 0)  # everything left the warehouses
    request = return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 3}, reason="too many")
    approved = return_request_approve(return_id=request.pk, reason="unused")
    assert approved.refund_amount == Money("30.00", "USD")
    # Parcels in the order they shipped: east's two first, then one of main's; back on the shelf, not committed.
    assert (on_hand(line_a, east), on_hand(line_a, main)) == (east_before + 2, main_before + 1)
    assert (committed(line_a, east), committed(line_a, main)) == (0, 0)
    line_a.refresh_from_db()
    assert line_a.refunded_quantity == 3
    order.refresh_from_db()
    assert order.refunded_total == Money("30.00", "USD") and order.status == "shipped"
    assert_ledger_balanced()


def test_shipping_is_refunded_only_when_the_whole_order_comes_back(order_two_warehouses, monkeypatch):
    order, _user, line_a, line_b, _east, _carrier = order_two_warehouses
    # Placed with the free test method: the share is zero in the order's currency either way.
    assert returns._return_shipping_share(order, {line_a: 4, line_b: 1}) == Money(Decimal("0"), "USD")
    # The decision, with a shipping price standing in for the one checkout stores.
    monkeypatch.setattr(returns, "order_shipping_charged", lambda o: Money("4.90", o.currency))
    assert returns._return_shipping_share(order, {line_a: 4, line_b: 1}) == Money("4.90", "USD")
    assert returns._return_shipping_share(order, {line_a: 4}) == Money("0.00", "USD")
    assert returns._return_shipping_share(order, {line_a: 3, line_b: 1}) == Money("0.00", "USD")
    # Units refunded before (an earlier return, or the cancelled rest) count as back.
    line_a.refunded_quantity = 3
    line_a.save(update_fields=["refunded_quantity"])
    assert returns._return_shipping_share(order, {line_a: 1, line_b: 1}) == Money("4.90", "USD")
    assert returns._return_shipping_share(order, {line_b.pk: 1}) == Money("0.00", "USD")


def test_reconciliation_finds_shipped_quantities_above_the_allocation(order_two_warehouses):
    order, _user, line_a, _line_b, east, carrier = order_two_warehouses
    assert dict(reconciliation_checks())["shipments"] is shipments_within_allocations_check
    parcel = shipment_create(order=order, lines={line_a: 2}, warehouse=east, carrier=carrier, tracking_number="E1")
    found = []
    assert shipments_within_allocations_check(day=order.created_at.date(), report=found.append) == {"shipped_lines": 1}
    assert found == []
    # A row written around the service (a bad import, a manual fix): one more unit than east allocated.
    ShipmentLine.objects.filter(shipment=parcel).update(quantity=3)
    shipments_within_allocations_check(day=order.created_at.date(), report=found.append)
    assert len(found) == 1
    finding = found[0]
    assert (finding.kind, finding.object_id, finding.expected, finding.actual) == (
        "shipped_over_allocated", line_a.pk, 2, 3
    )
    assert order.number in finding.related


def test_returned_units_do_not_count_as_the_unshipped_rest(order_two_warehouses):
    order, user, line_a, line_b, east, carrier = order_two_warehouses
    main = line_a.allocations.exclude(warehouse=east).get().warehouse
    shipment_create(order=order, lines={line_a: 2, line_b: 1}, warehouse=main, carrier=carrier, tracking_number="M1")
    return_request_approve(
        return_id=return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 2}, reason="dented").pk
    )
    shipment_create(order=order, lines={line_a: 1}, warehouse=east, carrier=carrier, tracking_number="E1")
    order.refresh_from_db()
    assert order.status == "partially_shipped"  # one unit of A is still in east
    east_before = on_hand(line_a, east)
    assert committed(line_a, east) == 1
    order = order_cancel_unshipped(order_id=order.pk, reason="east closed")
    assert order.status == "shipped"
    assert order.refunded_total == Money("30.00", "USD")  # the two returned units, then east's last one
    # Only east's unshipped unit goes from committed back on hand; the returned ones were restocked already.
    assert (on_hand(line_a, east), committed(line_a, east)) == (east_before + 1, 0)
    line_a.refresh_from_db()
    assert line_a.refunded_quantity == 3
    assert_ledger_balanced()


def test_reconciliation_finds_committed_units_that_are_not_the_paid_units_left_to_ship(order_two_warehouses):
    order, user, line_a, line_b, east, carrier = order_two_warehouses
    assert dict(reconciliation_checks())["stock_committed"] is stock_committed_check
    main = line_a.allocations.exclude(warehouse=east).get().warehouse
    day = order.created_at.date()
    found = []
    # Paid, partially shipped, a return, the rest cancelled: at every step committed is what is left to ship.
    assert stock_committed_check(day=day, report=found.append) == {"committed_rows": 3}  # A main, A east, B main
    shipment_create(order=order, lines={line_a: 2, line_b: 1}, warehouse=main, carrier=carrier, tracking_number="M1")
    stock_committed_check(day=day, report=found.append)
    return_request_approve(
        return_id=return_request_create(order_id=order.pk, user=user, lines={line_a.pk: 1}, reason="dented").pk
    )
    stock_committed_check(day=day, report=found.append)
    assert found == []
    # A counter written around the services: east holds one committed unit more than the order left there.
    Stock.objects.filter(variant_id=line_a.variant_id, warehouse=east).update(committed=3)
    stock_committed_check(day=day, report=found.append)
    assert [(f.kind, f.expected, f.actual, f.object_type) for f in found] == [
        ("stock_committed_unshipped", 2, 3, "catalog.stock")
    ]
    Stock.objects.filter(variant_id=line_a.variant_id, warehouse=east).update(committed=2)
    order_cancel_unshipped(order_id=order.pk, reason="east closed")
    found.clear()
    stock_committed_check(day=day, report=found.append)
    assert found == [] and committed(line_a, east) == 0
