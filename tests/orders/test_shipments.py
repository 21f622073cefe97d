"""Shipments: parcels of allocated units from one warehouse, tracked, delivered, and what never ships given back."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from djmoney.money import Money

from catalog.exceptions import StockNotCommitted
from catalog.models import Stock, StockMovement
from catalog.services.stock import stock_restock, stock_ship
from payments.models import Wallet
from shop.core.exceptions import InvalidTransition
from shop.orders.exceptions import ShipmentExceedsAllocation, ShipmentInvalid, TrackingNumberTaken
from shop.orders.models import Order, OutboxEmail, Shipment, ShipmentLine
from shop.orders.selectors import order_unshipped_by_warehouse
from shop.orders.services.checkout import order_place
from shop.orders.services.shipments import (
    order_cancel_unshipped,
    order_ship_everything,
    shipment_create,
    shipment_deliver,
)
from shop.orders.services.transitions import order_refund
from tests.catalog.factories import make_warehouse
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


def _stock(product, warehouse) -> tuple[int, int, int]:
    """(on hand, reserved, committed) of a product's stock row in a warehouse."""
    row = Stock.objects.get(product=product, warehouse=warehouse)
    return row.on_hand, row.reserved, row.committed


@pytest.fixture
def split_order(db):
    """A paid order of 4 x A (2 from main, 2 from east: no warehouse holds 4) and 1 x B (main), 10.00 each."""
    user = shopper_new(funds="100.00")
    a = make_product(price="10.00", on_hand=2)
    b = make_product(price="10.00", on_hand=5)
    east = make_warehouse("east", priority=5)
    stock_restock(product_id=a.pk, warehouse_id=east.pk, quantity=3, reason="delivery")
    cart_fill(user, (a, 4), (b, 1))
    order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD").order
    main = a.stocks.exclude(warehouse=east).get().warehouse
    line_a, line_b = order.lines.get(product=a), order.lines.get(product=b)
    assert {(al.warehouse_id, al.quantity) for al in line_a.allocations.all()} == {(main.pk, 2), (east.pk, 2)}
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return {"order": order, "a": a, "b": b, "main": main, "east": east, "line_a": line_a, "line_b": line_b,
            "carrier": carrier_new(), "user": user}


def test_an_order_ships_in_parcels_partially_then_fully_and_is_delivered_when_every_parcel_is(split_order):
    s = split_order
    order, carrier = s["order"], s["carrier"]
    # Paid: the sold units left on hand and wait in committed, where they were allocated.
    assert (_stock(s["a"], s["main"]), _stock(s["a"], s["east"]), _stock(s["b"], s["main"])) == (
        (0, 0, 2), (1, 0, 2), (4, 0, 1),
    )
    first = shipment_create(order=order, lines={s["line_a"]: 2, s["line_b"]: 1}, warehouse=s["main"],
                            carrier=carrier, tracking_number=" JD001 ")
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert first.tracking_number == "JD001" and first.status == Shipment.Status.SHIPPED
    assert order_unshipped_by_warehouse(order.pk) == {s["east"].pk: {s["line_a"].pk: 2}}
    # The parcel's units left main's committed; east still holds its two.
    assert (_stock(s["a"], s["main"]), _stock(s["a"], s["east"]), _stock(s["b"], s["main"])) == (
        (0, 0, 0), (1, 0, 2), (4, 0, 0),
    )

    second = shipment_create(order=order, lines={s["line_a"].pk: 2}, warehouse=s["east"], carrier=carrier,
                             tracking_number="JD002")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED and order.shipped_at
    # On hand untouched by shipping (the sale took the units off the shelf); committed is empty.
    assert (_stock(s["a"], s["main"]), _stock(s["a"], s["east"]), _stock(s["b"], s["main"])) == (
        (0, 0, 0), (1, 0, 0), (4, 0, 0),
    )
    shipped = StockMovement.objects.filter(kind=StockMovement.Kind.SHIPMENT).order_by("id")
    assert [(m.variant_id, m.warehouse_id, m.on_hand_delta, m.committed_delta, m.reference) for m in shipped] == [
        (s["line_a"].variant_id, s["main"].pk, 0, -2, f"{order.number}-shipment-{first.pk}"),
        (s["line_b"].variant_id, s["main"].pk, 0, -1, f"{order.number}-shipment-{first.pk}"),
        (s["line_a"].variant_id, s["east"].pk, 0, -2, f"{order.number}-shipment-{second.pk}"),
    ]

    shipment_deliver(shipment=first, reason="signed")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED  # one parcel still on its way
    shipment_deliver(shipment=second)
    shipment_deliver(shipment=second)  # again: nothing more happens
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.delivered_at
    assert list(order.events.values_list("to_status", flat=True)) == [
        "pending_payment", "paid", "partially_shipped", "shipped", "shipped", "delivered",
    ]
    assert order.events.filter(reason__startswith="Parcel JD001 delivered: signed").count() == 1


def test_a_parcel_never_holds_more_than_the_warehouse_allocated_less_what_shipped(split_order):
    s = split_order
    order, carrier = s["order"], s["carrier"]
    with pytest.raises(ShipmentExceedsAllocation) as exc:
        shipment_create(order=order, lines={s["line_a"]: 3}, warehouse=s["main"], carrier=carrier,
                        tracking_number="X1")
    assert (exc.value.status_code, exc.value.code, exc.value.field) == (400, "shipment_exceeds_allocation", "lines")
    with pytest.raises(ShipmentExceedsAllocation):  # B was allocated from main only
        shipment_create(order=order, lines={s["line_b"]: 1}, warehouse=s["east"], carrier=carrier,
                        tracking_number="X1")
    shipment_create(order=order, lines={s["line_a"]: 1}, warehouse=s["main"], carrier=carrier, tracking_number="X1")
    with pytest.raises(ShipmentExceedsAllocation):
        shipment_create(order=order, lines={s["line_a"]: 2}, warehouse=s["main"], carrier=carrier,
                        tracking_number="X2")
    for bad, field in (({s["line_a"]: 0}, "lines"), ({s["line_a"]: -1}, "lines"), ({999999: 1}, "lines")):
        with pytest.raises(ShipmentInvalid) as exc:
            shipment_create(order=order, lines=bad, warehouse=s["main"], carrier=carrier, tracking_number="X3")
        assert exc.value.field == field
    with pytest.raises(ShipmentInvalid) as exc:
        shipment_create(order=order, lines={s["line_a"]: 1}, warehouse=s["main"], carrier=carrier,
                        tracking_number="  ")
    assert exc.value.field == "tracking_number"
    assert ShipmentLine.objects.filter(shipment__order=order).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED


def test_the_same_parcel_twice_is_one_shipment_and_a_tracking_number_is_one_parcel(split_order):
    s = split_order
    order, carrier = s["order"], s["carrier"]
    args = {"lines": {s["line_b"]: 1}, "warehouse": s["main"], "carrier": carrier, "tracking_number": "DBL1"}
    first = shipment_create(order=order, **args)
    assert shipment_create(order=order, **args) == first  # a double click
    assert Shipment.objects.count() == 1
    # The stock moved once: one SHIPMENT movement, B's committed unit gone once.
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SHIPMENT).count() == 1
    assert _stock(s["b"], s["main"]) == (4, 0, 0)
    assert OutboxEmail.objects.filter(kind="order_shipped").count() == 1
    with pytest.raises(TrackingNumberTaken) as exc:
        shipment_create(order=order, lines={s["line_a"]: 1}, warehouse=s["main"], carrier=carrier,
                        tracking_number="DBL1")
    assert (exc.value.status_code, exc.value.code) == (409, "tracking_number_taken")
    # Another carrier may use the same number.
    shipment_create(order=order, lines={s["line_a"]: 1}, warehouse=s["main"], carrier=carrier_new("ups"),
                    tracking_number="DBL1")
    assert Shipment.objects.count() == 2


def test_shipped_or_refunded_orders_do_not_ship(split_order):
    s = split_order
    carrier = s["carrier"]
    order_ship_everything(order_id=s["order"].pk, carrier=carrier, tracking_numbers=["E1", "E2"])
    with pytest.raises(InvalidTransition):
        shipment_create(order=s["order"], lines={s["line_b"]: 1}, warehouse=s["main"], carrier=carrier,
                        tracking_number="E3")
    user = shopper_new(funds="100.00")
    cart_fill(user, (s["b"], 1))
    refunded = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                           currency="USD").order
    order_refund(order_id=refunded.pk, reason="changed mind")
    with pytest.raises(InvalidTransition):
        shipment_create(order=refunded, lines={refunded.lines.get(): 1}, warehouse=s["main"], carrier=carrier,
                        tracking_number="E4")
    assert Shipment.objects.count() == 2


def test_ship_everything_makes_one_parcel_per_warehouse_and_wants_a_number_for_each(split_order):
    s = split_order
    with pytest.raises(ShipmentInvalid) as exc:
        order_ship_everything(order_id=s["order"].pk, carrier=s["carrier"], tracking_numbers=["ONLY"])
    assert exc.value.field == "tracking_number"
    assert not Shipment.objects.exists()
    made = order_ship_everything(order_id=s["order"].pk, carrier=s["carrier"], tracking_numbers=["M1", "E1"])
    assert [(p.warehouse, p.tracking_number) for p in made] == [(s["main"], "M1"), (s["east"], "E1")]
    assert {(sl.order_line_id, sl.quantity) for sl in made[0].lines.all()} == {(s["line_a"].pk, 2), (s["line_b"].pk, 1)}
    s["order"].refresh_from_db()
    assert s["order"].status == Order.Status.SHIPPED


def test_cancelling_the_rest_refunds_and_restocks_only_what_did_not_ship(split_order):
    s = split_order
    order = s["order"]
    shipment_create(order=order, lines={s["line_a"]: 2, s["line_b"]: 1}, warehouse=s["main"], carrier=s["carrier"],
                    tracking_number="P1")
    main_before, east_before = _stock(s["a"], s["main"]), _stock(s["a"], s["east"])
    wallet = Wallet.objects.get(user=s["user"])
    assert wallet.balance == Decimal("50.00")
    order = order_cancel_unshipped(order_id=order.pk, reason="east warehouse flooded")
    assert order.status == Order.Status.SHIPPED
    assert order.refunded_total == Money("20.00", "USD")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("70.00")
    # The two units never shipped go from committed back on hand in east, where they were allocated.
    assert east_before == (1, 0, 2)
    assert _stock(s["a"], s["east"]) == (3, 0, 0)
    assert _stock(s["a"], s["main"]) == main_before == (0, 0, 0)
    back = StockMovement.objects.get(kind=StockMovement.Kind.SALE_CANCELLED)
    assert (back.warehouse_id, back.on_hand_delta, back.committed_delta) == (s["east"].pk, 2, -2)
    s["line_a"].refresh_from_db()
    assert s["line_a"].refunded_quantity == 2
    with pytest.raises(InvalidTransition):  # twice: nothing more to cancel
        order_cancel_unshipped(order_id=order.pk)
    assert order_unshipped_by_warehouse(order.pk) == {s["east"].pk: {s["line_a"].pk: 2}}  # allocated, never shipped
    with pytest.raises(InvalidTransition):  # the order counts as shipped now
        shipment_create(order=order, lines={s["line_a"]: 2}, warehouse=s["east"], carrier=s["carrier"],
                        tracking_number="P2")
    assert_ledger_balanced()


def test_only_a_partially_shipped_order_has_a_rest_to_cancel(split_order):
    with pytest.raises(InvalidTransition):
        order_cancel_unshipped(order_id=split_order["order"].pk)


def test_the_shipped_email_carries_each_parcels_tracking_link(split_order, django_capture_on_commit_callbacks):
    s = split_order
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        shipment_create(order=s["order"], lines={s["line_a"]: 2}, warehouse=s["main"], carrier=s["carrier"],
                        tracking_number="AB 12/3")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    link = "https://track.example.com/parcels/AB%2012%2F3"  # the number quoted into the carrier's template
    assert link in message.body and link in message.alternatives[0][0]
    assert "part of your order" in message.body
    with django_capture_on_commit_callbacks(execute=True):
        shipment_create(order=s["order"], lines={s["line_a"]: 2}, warehouse=s["east"], carrier=s["carrier"],
                        tracking_number="CD4")
        shipment_create(order=s["order"], lines={s["line_b"]: 1}, warehouse=s["main"], carrier=s["carrier"],
                        tracking_number="EF5")
    assert len(mail.outbox) == 3
    assert "https://track.example.com/parcels/EF5" in mail.outbox[2].body
    assert "has shipped" in mail.outbox[2].body and "part of your order" not in mail.outbox[2].body


def test_the_database_refuses_impossible_shipments(split_order):
    s = split_order
    parcel = shipment_create(order=s["order"], lines={s["line_b"]: 1}, warehouse=s["main"], carrier=s["carrier"],
                             tracking_number="DB1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ShipmentLine.objects.create(shipment=parcel, order_line=s["line_a"], quantity=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.create(order=s["order"], warehouse=s["main"], carrier=s["carrier"], tracking_number="DB1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.filter(pk=parcel.pk).update(status=Shipment.Status.DELIVERED)  # without delivered_at
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.create(order=s["order"], warehouse=s["main"], carrier=s["carrier"], tracking_number="")


def test_a_full_refund_before_shipping_puts_the_committed_units_back_on_hand_once(split_order):
    s = split_order
    order_refund(order_id=s["order"].pk, reason="changed mind")
    s["order"].refresh_from_db()
    assert s["order"].status == Order.Status.REFUNDED
    assert (_stock(s["a"], s["main"]), _stock(s["a"], s["east"]), _stock(s["b"], s["main"])) == (
        (2, 0, 0), (3, 0, 0), (5, 0, 0),
    )
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SALE_CANCELLED).count() == 3
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.RESTOCK, reference=s["order"].number).exists()
    with pytest.raises(InvalidTransition):  # a second full refund is refused: nothing moves again
        order_refund(order_id=s["order"].pk, reason="again")
    assert _stock(s["b"], s["main"]) == (5, 0, 0)


def test_a_shipment_never_takes_more_than_is_committed_and_a_parcel_moves_stock_once(split_order):
    s = split_order
    variant_b, main = s["line_b"].variant_id, s["main"].pk
    with pytest.raises(StockNotCommitted) as exc, transaction.atomic():
        stock_ship(lines=[(variant_b, main, 2)], reference="X-shipment-1")
    assert (exc.value.status_code, exc.value.code) == (409, "stock_not_committed")
    assert _stock(s["b"], s["main"]) == (4, 0, 1)
    stock_ship(lines=[(variant_b, main, 1)], reference="X-shipment-1")
    Stock.objects.filter(variant_id=variant_b, warehouse_id=main).update(committed=1)  # as if sold again
    with pytest.raises(IntegrityError), transaction.atomic():  # the same parcel's reference again
        stock_ship(lines=[(variant_b, main, 1)], reference="X-shipment-1")
    assert Stock.objects.get(variant_id=variant_b, warehouse_id=main).committed == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(variant_id=variant_b, warehouse_id=main).update(committed=-1)


def test_after_a_sale_with_nothing_shipped_on_hand_and_reserved_are_zero_and_committed_holds_the_units(db):
    user = shopper_new(funds="100.00")
    product = make_product(price="10.00", on_hand=3)
    cart_fill(user, (product, 3))
    order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet",
                        shipping_address=user.addresses.first().pk, currency="USD").order
    assert order.status == Order.Status.PAID
    row = Stock.objects.get(product=product)
    assert (row.on_hand, row.reserved, row.committed) == (0, 0, 3)
    assert row.available == 0


def test_the_sale_moves_units_to_committed_in_its_own_guarded_update_and_adds_no_statement(db):
    """A wallet checkout of two lines: one guarded UPDATE per stock row does on_hand -> committed (no extra one)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = shopper_new(funds="100.00")
    a, b = make_product(price="10.00", on_hand=5), make_product(price="10.00", on_hand=5)
    cart_fill(user, (a, 2), (b, 1))
    method, address = shipping_method_everywhere(), user.addresses.first().pk
    with CaptureQueriesContext(connection) as queries:
        order_place(shipping_method=method, user=user, payment_method="wallet", shipping_address=address,
                    currency="USD")
    stock_writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "catalog_stock"')]
    assert len(stock_writes) == 2, stock_writes
    assert all("committed = committed +" in sql and "on_hand - reserved >=" in sql for sql in stock_writes)
    assert [(s.on_hand, s.committed) for s in Stock.objects.filter(product__in=[a, b]).order_by("product_id")] == [
        (3, 2), (4, 1),
    ]
