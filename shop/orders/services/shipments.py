"""Shipments: staff (or a carrier's webhook) send an order's lines in parcels and see them delivered.

Lock order: the order row (order_lock) first, then its shipments. Every
shipment of an order is written under the order's lock, so two clicks (or two
staff members, or a click and a list action) on the same order queue on it
and the second sees what the first shipped: no line ever ships more than its
allocation from the warehouse holds. A parcel is identified by (carrier,
tracking number): asking again for the same parcel of the same order returns
the one already made, and nothing moves twice.

Stock: when the order is paid the catalog moves its units from on hand to
`committed` (sold, awaiting shipment; stock_commit_sale / stock_sell). A new
parcel takes its units out of committed in the warehouse it ships from
(stock_ship, under the order's lock, reference `<number>-shipment-<id>`), once:
the same parcel asked for again returns the shipment already made, and the
catalog refuses a second SHIPMENT movement for the reference. What never ships
goes from committed back on hand when the rest is cancelled or refunded
(order_cancel_unshipped, in the refund's handler).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.models import Warehouse
from catalog.services.stock import stock_ship
from shop.core.exceptions import InvalidTransition
from shop.orders.exceptions import ShipmentExceedsAllocation, ShipmentInvalid, TrackingNumberTaken
from shop.orders.models import Order, OrderLine, OrderLineAllocation, OutboxEmail, Shipment, ShipmentLine
from shop.orders.selectors import (
    order_returned_quantities,
    order_shipped_quantities,
    order_unshipped_by_warehouse,
)
from shop.orders.services.gift_cards import (
    order_gift_cards_take_back,
    order_refund_pay_back,
    order_refundable,
)
from shop.orders.services.outbox import outbox_email_queue
from shop.orders.services.transitions import S, order_lock, order_note, order_transition, signed_in_actor
from shop.shipping.models import Carrier, CarrierEvent

logger = logging.getLogger(__name__)
SHIPPABLE = {S.PAID, S.PARTIALLY_SHIPPED}
MAX_TRACKING_LENGTH = 100


def _pk(value) -> int:
    return value if isinstance(value, int) else value.pk


def _tracking_clean(tracking_number) -> str:
    value = (tracking_number or "").strip() if isinstance(tracking_number, str) else ""
    if not value or len(value) > MAX_TRACKING_LENGTH:
        raise ShipmentInvalid(_("Enter the carrier's tracking number."), field="tracking_number")
    return value


def _lines_clean(lines: dict) -> dict[int, int]:
    chosen: dict[int, int] = {}
    for line, quantity in lines.items():
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise ShipmentInvalid(_("Enter a whole number of items."), field="lines")
        if quantity:
            chosen[_pk(line)] = chosen.get(_pk(line), 0) + quantity
    if not chosen:
        raise ShipmentInvalid(_("Choose at least one item to ship."), field="lines")
    return chosen


def _same_parcel(shipment: Shipment, order_id: int, warehouse_id: int, chosen: dict[int, int]) -> bool:
    mine = dict(shipment.lines.values_list("order_line_id", "quantity"))
    return shipment.order_id == order_id and shipment.warehouse_id == warehouse_id and mine == chosen


def _check_within_allocation(order: Order, warehouse_id: int, chosen: dict[int, int]) -> None:
    """Refuse a line not in the order, or more units than allocated from the warehouse less those shipped."""
    names = dict(OrderLine.objects.filter(order=order).values_list("id", "name"))
    allocated = dict(
        OrderLineAllocation.objects.filter(line__order=order, warehouse_id=warehouse_id).values_list(
            "line_id", "quantity"
        )
    )
    shipped = order_shipped_quantities(order.pk, warehouse_id=warehouse_id)
    for line_id, quantity in sorted(chosen.items()):
        if line_id not in names:
            raise ShipmentInvalid(_("This item is not in the order."), field="lines")
        left = allocated.get(line_id, 0) - shipped.get(line_id, 0)
        if quantity > left:
            raise ShipmentExceedsAllocation(
                _("At most %(n)d of “%(name)s” are left to ship from this warehouse.")
                % {"n": max(left, 0), "name": names[line_id]},
                field="lines", line=line_id, available=max(left, 0),
            )


def _order_fully_shipped(order: Order) -> bool:
    """Every unit of every line shipped, or refunded before it shipped (the cancelled rest).

    Units refunded by a return had shipped: only refunds beyond the approved
    returns count as never shipped.
    """
    shipped = order_shipped_quantities(order.pk)
    returned = order_returned_quantities(order.pk)
    return all(
        shipped.get(line_id, 0) + (refunded - returned.get(line_id, 0)) >= quantity
        for line_id, quantity, refunded in order.lines.values_list("id", "quantity", "refunded_quantity")
    )


def shipment_tracking(shipment: Shipment) -> dict:
    """The shopper-facing facts of a parcel: carrier, tracking number, link, state."""
    return {
        "carrier": shipment.carrier.name,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "status": shipment.status,
    }


def shipment_create(
    *, order, lines: dict, warehouse, carrier, tracking_number: str, actor=None, reason: str = ""
) -> Shipment:
    """Ship `lines` ({order line or id: units}) of a paid order from one warehouse under a tracking number.

    Takes the order's lock; never more than allocated from the warehouse less
    already shipped (ShipmentExceedsAllocation). The same parcel asked for
    again (same order, warehouse, lines, carrier and number: a double click)
    returns the shipment already made; the number on another parcel is 409
    tracking_number_taken. The order becomes partially shipped, or shipped
    when every line is; the shopper's e-mail carries the tracking link.
    """
    tracking_number = _tracking_clean(tracking_number)
    chosen = _lines_clean(lines)
    carrier_id, warehouse_id = _pk(carrier), _pk(warehouse)
    carrier = Carrier.objects.filter(pk=carrier_id, is_active=True).first()
    if carrier is None:
        raise ShipmentInvalid(_("Choose an active carrier."), field="carrier")
    if not Warehouse.objects.filter(pk=warehouse_id).exists():
        raise ShipmentInvalid(_("Choose a warehouse."), field="warehouse")
    with transaction.atomic():
        order = order_lock(_pk(order))
        existing = Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number).first()
        if existing is not None:
            if _same_parcel(existing, order.pk, warehouse_id, chosen):
                return existing
            raise TrackingNumberTaken(field="tracking_number")
        if order.status not in SHIPPABLE:
            raise InvalidTransition(
                _("An order that is %(status)s cannot be shipped.") % {"status": order.get_status_display()},
                from_status=order.status, to_status=S.SHIPPED,
            )
        _check_within_allocation(order, warehouse_id, chosen)
        shipment = _shipment_insert(order, warehouse_id, carrier, tracking_number, chosen, actor)
        _shipment_stock_out(order, shipment, chosen, actor=actor)
        _order_after_shipment(order, shipment, actor=actor, reason=reason)
    return shipment


def _shipment_insert(order, warehouse_id, carrier, tracking_number, chosen, actor) -> Shipment:
    try:
        with transaction.atomic():
            shipment = Shipment.objects.create(
                order=order, warehouse_id=warehouse_id, carrier=carrier, tracking_number=tracking_number,
                created_by=signed_in_actor(actor),
            )
    except IntegrityError:  # another order's parcel took the number meanwhile (the unique constraint decides)
        raise TrackingNumberTaken(field="tracking_number")
    ShipmentLine.objects.bulk_create(
        [ShipmentLine(shipment=shipment, order_line_id=k, quantity=q) for k, q in sorted(chosen.items())]
    )
    return shipment


def _shipment_stock_out(order: Order, shipment: Shipment, chosen: dict[int, int], *, actor) -> None:
    """The parcel's units leave the warehouse: out of committed, one SHIPMENT movement per variant."""
    variants = dict(OrderLine.objects.filter(pk__in=list(chosen)).values_list("id", "variant_id"))
    lines = [(variants[k], shipment.warehouse_id, q) for k, q in sorted(chosen.items()) if variants.get(k)]
    if lines:  # a line whose variant was deleted has no stock row left to move
        stock_ship(lines=lines, reference=f"{order.number}-shipment-{shipment.pk}",
                   actor=signed_in_actor(actor), reason=f"shipment {shipment.tracking_number}"[:255])


def _order_after_shipment(order: Order, shipment: Shipment, *, actor, reason: str) -> None:
    """Audit the parcel on the order (a transition when its state changes) and queue the shopper's e-mail."""
    words = _("Shipped %(number)s with %(carrier)s") % {
        "number": shipment.tracking_number, "carrier": shipment.carrier.name,
    }
    reason = f"{words}: {reason}" if reason else words
    target = S.SHIPPED if _order_fully_shipped(order) else S.PARTIALLY_SHIPPED
    if target != order.status:
        order_transition(order, target, actor=actor, reason=reason)
    else:
        order_note(order, actor=actor, reason=reason)
    outbox_email_queue(
        order=order, kind=OutboxEmail.Kind.ORDER_SHIPPED, key_suffix=f":{shipment.pk}",
        context={"shipments": [shipment_tracking(shipment)], "complete": target == S.SHIPPED},
    )


def shipment_deliver(*, shipment, actor=None, reason: str = "") -> Shipment:
    """Mark a parcel delivered (once; again is a no-op); the order is delivered when all its parcels are.

    Takes the order's lock, then the shipment's.
    """
    shipment_id = _pk(shipment)
    with transaction.atomic():
        order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment_id)
        order = order_lock(order_id)
        shipment = Shipment.objects.select_for_update().select_related("carrier").get(pk=shipment_id)
        if shipment.status == Shipment.Status.DELIVERED:
            return shipment
        shipment.status = Shipment.Status.DELIVERED
        shipment.delivered_at = timezone.now()
        shipment.save(update_fields=["status", "delivered_at"])
        words = _("Parcel %(number)s delivered") % {"number": shipment.tracking_number}
        reason = f"{words}: {reason}" if reason else words
        _order_after_delivery(order, actor=actor, reason=reason)
    return shipment


def _order_after_delivery(order: Order, *, actor, reason: str) -> None:
    everything_delivered = (
        order.status == S.SHIPPED
        and not Shipment.objects.filter(order=order).exclude(status=Shipment.Status.DELIVERED).exists()
    )
    if everything_delivered:
        order_transition(order, S.DELIVERED, actor=actor, reason=reason)
    else:
        order_note(order, actor=actor, reason=reason)


def order_ship_everything(*, order_id: int, carrier, tracking_numbers: list[str], actor=None, reason: str = "") -> list[Shipment]:
    """Ship all that is left of an order: one parcel per warehouse (in warehouse-id order), one number each.

    Refuses (ShipmentInvalid, field tracking_number) unless exactly one
    tracking number is given per warehouse with units left; all or nothing.
    """
    with transaction.atomic():
        order = order_lock(order_id)
        left = order_unshipped_by_warehouse(order_id)
        if order.status not in SHIPPABLE or not left:
            raise InvalidTransition(
                _("Nothing is left to ship on this %(status)s order.") % {"status": order.get_status_display()},
                from_status=order.status, to_status=S.SHIPPED,
            )
        if len(tracking_numbers) != len(left):
            raise ShipmentInvalid(
                _("This order ships in %(n)d parcel(s): give one tracking number for each.") % {"n": len(left)},
                field="tracking_number",
            )
        return [
            shipment_create(
                order=order_id, lines=lines, warehouse=warehouse_id, carrier=carrier,
                tracking_number=number, actor=actor, reason=reason,
            )
            for (warehouse_id, lines), number in zip(sorted(left.items()), tracking_numbers, strict=True)
        ]


def order_deliver_everything(*, order_id: int, actor=None, reason: str = "") -> Order:
    """Mark every parcel of a shipped order delivered (staff's list action); 409 unless it is shipped."""
    with transaction.atomic():
        order = order_lock(order_id)
        if order.status != S.SHIPPED:
            raise InvalidTransition(
                _("An order that is %(status)s cannot be delivered.") % {"status": order.get_status_display()},
                from_status=order.status, to_status=S.DELIVERED,
            )
        for shipment_id in order.shipments.order_by("id").values_list("id", flat=True):
            shipment_deliver(shipment=shipment_id, actor=actor, reason=reason)
        order.refresh_from_db()
    return order


def order_cancel_unshipped(*, order_id: int, actor=None, reason: str = "") -> Order:
    """Cancel what a partially shipped order has not shipped: refund those units and put them back.

    Only the units allocated and never shipped are refunded (reference
    `<number>-unshipped`, so twice refunds once) and go from committed back
    on hand in the warehouses that held them, in the refund's transaction
    (payment_handlers); the order then counts as shipped. Call outside a
    transaction (a card refund is an HTTP call).
    """
    with transaction.atomic():
        order = order_lock(order_id)
        if order.status != S.PARTIALLY_SHIPPED:
            raise InvalidTransition(
                _("Only a partially shipped order can have its rest cancelled."),
                from_status=order.status, to_status=S.SHIPPED,
            )
        # What the handler will restock: allocated and never shipped (returned units had shipped).
        unshipped: dict[int, int] = {}
        for per_line in order_unshipped_by_warehouse(order.pk).values():
            for line_id, units in per_line.items():
                unshipped[line_id] = unshipped.get(line_id, 0) + units
        amount = sum(
            (line.unit_price * unshipped[line.id] for line in order.lines.all() if unshipped.get(line.id)),
            Money(Decimal("0"), order.currency),
        )
        amount = min(amount, order_refundable(order))
        if amount.amount <= 0:
            raise InvalidTransition(_("Nothing is left to refund on this order."))
        order_gift_cards_take_back(order, unshipped)
    order_refund_pay_back(
        order_id=order.pk, amount=amount, reference=f"{order.number}-unshipped",
        reason=str(reason or _("The rest of the order was cancelled")), actor=signed_in_actor(actor),
    )
    order.refresh_from_db()
    return order


def order_unshipped_settle(order: Order, *, actor=None, reason: str = "") -> None:
    """After the rest was refunded (inside the refund's transaction): a partially shipped order is shipped."""
    if order.status == S.PARTIALLY_SHIPPED and _order_fully_shipped(order):
        order_transition(order, S.SHIPPED, actor=actor, reason=reason)
        if not order.shipments.exclude(status=Shipment.Status.DELIVERED).exists():
            order_transition(order, S.DELIVERED, actor=actor, reason=reason)


def shipment_carrier_event_apply(event: CarrierEvent) -> None:
    """shipping's carrier-event handler (registered in OrdersConfig.ready), inside the event's transaction.

    Finds the parcel by (carrier, tracking number): `delivered` goes through
    shipment_deliver (a second delivery is a no-op); `shipped` confirms what
    staff already recorded. An unknown number stays recorded (the
    CarrierEvent) and changes nothing.
    """
    shipment = Shipment.objects.filter(carrier_id=event.carrier_id, tracking_number=event.tracking_number).first()
    if shipment is None:
        logger.warning("carrier event %s for unknown tracking number %s", event.event_id, event.tracking_number)
        return
    if event.status == CarrierEvent.Status.DELIVERED:
        shipment_deliver(
            shipment=shipment.pk, reason=_("reported by %(carrier)s") % {"carrier": shipment.carrier.name}
        )
