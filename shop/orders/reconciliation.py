"""The nightly reconciliation's check of orders against payments (registered in OrdersConfig.ready).

Every order paid that day has succeeded payments equal to its total, its
stored price components add up to that total (subtotal - discounts +
shipping, + tax when prices are entered net, - gift cards) and its lines' to
theirs, and no paid order lacks its paid_at; no payment that succeeded that day lacks a paid
(or refunded) order. Payments runs it with its own checks and stores what it
reports (`shop.core.reconciliation`); orders owns the tables, so the check
lives here.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils.translation import gettext_lazy as _

from payments.models import Payment, ReconciliationItem
from payments.reconciliation.provider import TAKEN
from shop.core.reconciliation import (
    BATCH,
    ReconciliationFinding,
    ReconciliationReport,
    as_decimal,
    day_bounds,
)
from shop.orders.models import Order, OrderLineAllocation, ShipmentLine

Kind = ReconciliationItem.Kind
Action = ReconciliationItem.Action
PAID_STATES = (Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.REFUNDED)


def order_payments_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Paid orders of the day whose payments do not add up or lack paid_at; succeeded payments with no paid order."""
    start, end = day_bounds(day)
    _orders_not_matching_payments(start, end, report)
    _orders_components_not_adding_up(start, end, report)
    # Paid that day, and every paid order with no paid_at at all (a broken row has no day of its own,
    # so it is reported by every run until it is mended, like a wallet or stock mismatch).
    checked = (
        Order.objects.filter(status__in=PAID_STATES)
        .filter(Q(paid_at__gte=start, paid_at__lt=end) | Q(paid_at__isnull=True))
        .count()
    )
    _payments_without_order(start, end, report)
    payments_checked = Payment.objects.filter(
        purpose=Payment.Purpose.ORDER, settled_at__gte=start, settled_at__lt=end
    ).count()
    return {"orders": checked, "order_payments": payments_checked}


def _raw_rows(sql: str, params: list):
    """Stream a raw query's rows (a server-side cursor on PostgreSQL), BATCH at a time."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            yield from rows


def _order_sums_query(start: datetime, end: datetime) -> tuple[str, list]:
    """SQL and params: the day's paid orders (and those with no paid_at) whose taken payments differ from the total.

    One join in SQL, grouped by order (raw: the ORM cannot express the join
    on number and currency): two scans, instead of an index probe and an
    aggregate per order. Only discrepant orders come back.
    """
    states = ", ".join(["%s"] * len(PAID_STATES))
    taken = ", ".join(["%s"] * len(TAKEN))
    in_day = f"o.status IN ({states}) AND ((o.paid_at >= %s AND o.paid_at < %s) OR o.paid_at IS NULL)"
    bounds = [connection.ops.adapt_datetimefield_value(start), connection.ops.adapt_datetimefield_value(end)]
    orders_table, payments_table = Order._meta.db_table, Payment._meta.db_table
    sql = (
        f"SELECT o.id, o.number, o.status, o.currency, o.total, o.paid_at, COALESCE(SUM(p.amount), 0) "  # noqa: S608
        f"FROM {orders_table} o LEFT JOIN {payments_table} p ON p.reference = o.number "
        f"AND p.amount_currency = o.currency AND p.purpose = %s AND p.status IN ({taken}) "
        f"WHERE {in_day} "
        f"GROUP BY o.id, o.number, o.status, o.currency, o.total, o.paid_at "
        f"HAVING o.paid_at IS NULL OR ROUND(COALESCE(SUM(p.amount), 0), 2) <> ROUND(o.total, 2) "
        f"ORDER BY o.id"
    )
    return sql, [Payment.Purpose.ORDER, *TAKEN, *PAID_STATES, *bounds]


def _orders_not_matching_payments(start: datetime, end: datetime, report: ReconciliationReport) -> None:
    """Report paid orders with no paid_at, and paid orders whose taken payments do not add up to the total."""
    for order_id, number, status, currency, total, paid_at, paid in _raw_rows(*_order_sums_query(start, end)):
        total, paid = as_decimal(total), as_decimal(paid)
        common = {
            "object_type": "orders.order",
            "object_id": order_id,
            "related": number,
            "currency": currency,
            "expected": total,
            "actual": paid,
        }
        if paid_at is None:
            report(
                ReconciliationFinding(
                    kind=Kind.ORDER_PAID_AT_MISSING,
                    action=Action.REVIEW,
                    **common,
                    detail=_("The order is %(status)s but has no payment time, so no day's sales count it.")
                    % {"status": status},
                )
            )
        if paid != total:
            report(
                ReconciliationFinding(
                    kind=Kind.ORDER_PAYMENT,
                    action=Action.REVIEW,
                    **common,
                    detail=_("The order is paid, but its succeeded payments do not add up to its total."),
                )
            )


def _payments_without_order(start: datetime, end: datetime, report: ReconciliationReport) -> None:
    """Report order payments that succeeded in [start, end) whose order is not paid or refunded."""
    order_ok = Order.objects.filter(number=OuterRef("reference"), status__in=PAID_STATES)
    orphans = (
        Payment.objects.filter(
            purpose=Payment.Purpose.ORDER,
            status__in=(Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED),
            settled_at__gte=start,
            settled_at__lt=end,
        )
        .filter(~Exists(order_ok))
        .only("id", "reference", "amount", "amount_currency", "status")
        .order_by("id")
    )
    for payment in orphans.iterator(chunk_size=BATCH):
        report(
            ReconciliationFinding(
                kind=Kind.PAYMENT_WITHOUT_ORDER,
                action=Action.REFUND_OR_ATTACH,
                object_type="payments.payment",
                object_id=payment.pk,
                related=payment.reference,
                currency=payment.amount.currency.code,
                expected=Decimal(0),
                actual=payment.amount.amount,
                detail=_("The payment succeeded, but its order is not paid or refunded."),
            )
        )


def shipments_within_allocations_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Every (order line, warehouse) shipped at most what was allocated from it (all shipments: they have no day).

    Two grouped sums merged here (a line shipped from a warehouse it has no
    allocation in counts as allocated 0).
    """
    allocated = {
        (row["line_id"], row["warehouse_id"]): row["n"]
        for row in OrderLineAllocation.objects.values("line_id", "warehouse_id").annotate(n=Sum("quantity"))
    }
    shipped = (
        ShipmentLine.objects.values("order_line_id", "shipment__warehouse_id", "order_line__order__number")
        .annotate(n=Sum("quantity"))
        .order_by("order_line_id", "shipment__warehouse_id")
    )
    checked = 0
    for row in shipped.iterator(chunk_size=BATCH):
        checked += 1
        key = (row["order_line_id"], row["shipment__warehouse_id"])
        if row["n"] > allocated.get(key, 0):
            report(
                ReconciliationFinding(
                    kind=Kind.SHIPPED_OVER_ALLOCATED,
                    action=Action.REVIEW,
                    object_type="orders.orderline",
                    object_id=row["order_line_id"],
                    related=f"{row['order_line__order__number']} / warehouse {row['shipment__warehouse_id']}",
                    expected=allocated.get(key, 0),
                    actual=row["n"],
                    detail=_("More units of this order line shipped from the warehouse than were allocated there."),
                )
            )
    return {"shipped_lines": checked}


def order_components_problems(order: Order) -> list[str]:
    """Why an order's stored price components do not add up (docs/pricing.md); [] when they do.

    Needs the order's lines (prefetched by the caller).
    """
    problems = []
    expected = order.subtotal - order.discount_total + order.shipping_price - order.gift_card_total
    if not order.prices_include_tax:
        expected += order.tax_total
    if expected != order.total:
        problems.append(
            _("subtotal - discounts + shipping%(tax)s - gift cards is %(expected)s, not the total")
            % {"tax": "" if order.prices_include_tax else " + tax", "expected": expected}
        )
    lines = list(order.lines.all())
    zero = order.total * 0
    if sum((use.amount for use in order.gift_card_uses.all()), zero) != order.gift_card_total:
        problems.append(_("the gift cards used do not add up to the gift card total"))
    if sum((line.tax for line in lines), zero) + order.shipping_tax != order.tax_total:
        problems.append(_("the lines' tax and the shipping's do not add up to the tax total"))
    for line in lines:
        left = line.unit_price * line.quantity - line.discount
        if line.net + line.tax != line.gross or left != (line.gross if order.prices_include_tax else line.net):
            problems.append(_("line %(sku)s: price - discount, net + tax and gross disagree") % {"sku": line.sku})
    return problems


def _orders_components_not_adding_up(start: datetime, end: datetime, report: ReconciliationReport) -> None:
    """Report the day's paid orders whose stored components do not add up to their total (three queries a batch)."""
    orders = (
        Order.objects.filter(status__in=PAID_STATES, paid_at__gte=start, paid_at__lt=end)
        .prefetch_related("lines", "gift_card_uses")
        .order_by("id")
    )
    for order in orders.iterator(chunk_size=BATCH):
        problems = order_components_problems(order)
        if problems:
            report(
                ReconciliationFinding(
                    kind=Kind.ORDER_COMPONENTS,
                    action=Action.REVIEW,
                    object_type="orders.order",
                    object_id=order.pk,
                    related=order.number,
                    currency=order.currency,
                    expected=order.total.amount,
                    actual=(order.subtotal - order.discount_total + order.shipping_price).amount,
                    detail="; ".join(str(p) for p in problems)[:500],
                )
            )
