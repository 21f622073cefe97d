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
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum
from django.utils.translation import gettext_lazy as _

from catalog.models import Stock
from payments.models import Payment, ReconciliationItem
from payments.reconciliation.provider import TAKEN
from shop.core.reconciliation import (
    BATCH,
    ReconciliationFinding,
    ReconciliationReport,
    as_decimal,
    day_bounds,
)
from shop.orders.invoice_models import INVOICE_PREFIX, InvoiceSequence
from shop.orders.models import Invoice, Order, OrderLineAllocation, ShipmentLine

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


UNSHIPPED_STATES = (Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED)


def stock_committed_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Each stock row's committed units equal the paid units waiting there: allocated less shipped (no day: all).

    Paid units wait while their order is paid or partially shipped; shipped,
    delivered and refunded orders have none left (what never shipped went
    back on hand). Two grouped sums per (variant, warehouse) and the rows with
    units committed, merged here.
    """
    expected: dict[tuple[int, int], int] = {}
    for row in (
        OrderLineAllocation.objects.filter(line__order__status__in=UNSHIPPED_STATES, line__variant__isnull=False)
        .values("line__variant_id", "warehouse_id").annotate(n=Sum("quantity"))
    ):
        expected[(row["line__variant_id"], row["warehouse_id"])] = row["n"]
    for row in (
        ShipmentLine.objects.filter(
            order_line__order__status__in=UNSHIPPED_STATES, order_line__variant__isnull=False
        )
        .values("order_line__variant_id", "shipment__warehouse_id").annotate(n=Sum("quantity"))
    ):
        key = (row["order_line__variant_id"], row["shipment__warehouse_id"])
        expected[key] = expected.get(key, 0) - row["n"]
    rows = {
        (r["variant_id"], r["warehouse_id"]): r
        for r in Stock.objects.filter(
            Q(committed__gt=0) | Q(variant_id__in={vid for vid, _wid in expected})
        ).values("id", "variant_id", "warehouse_id", "variant__sku", "warehouse__code", "committed")
    }
    for key in sorted(set(rows) | {k for k, n in expected.items() if n}):
        row = rows.get(key)
        actual, wanted = (row["committed"] if row else 0), expected.get(key, 0)
        if actual != wanted:
            report(
                ReconciliationFinding(
                    kind=Kind.STOCK_COMMITTED_UNSHIPPED,
                    action=Action.REVIEW,
                    object_type="catalog.stock",
                    object_id=row["id"] if row else "",
                    related=f"{row['variant__sku']}@{row['warehouse__code']}" if row else f"variant {key[0]} / warehouse {key[1]}",
                    expected=wanted,
                    actual=actual,
                    detail=_("Units sold and awaiting shipment differ from the paid orders' units not yet shipped."),
                )
            )
    return {"committed_rows": len(rows)}


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


def invoice_numbering_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Invoice and credit-note numbers of every year are 1..N without a gap or a repeat, N is the year's
    sequence counter, and each number reads as its kind, year and sequence (all years: numbers have no day).

    One grouped query per table, and one over the few numbers that disagree with their fields.
    """
    counters = {(row.kind, row.year): row.last_number for row in InvoiceSequence.objects.all()}
    groups = (
        Invoice.objects.values("kind", "year")
        .annotate(n=Count("id"), distinct=Count("sequence", distinct=True), low=Min("sequence"), high=Max("sequence"))
        .order_by("kind", "year")
    )
    checked = 0
    for row in groups:
        checked += row["n"]
        key = (row["kind"], row["year"])
        counter = counters.pop(key, 0)
        if row["distinct"] != row["n"] or row["low"] != 1 or row["high"] != row["n"] or counter != row["n"]:
            _numbering_report(report, key, expected=counter, actual=row["n"], detail=_(
                "%(n)s documents numbered %(low)s to %(high)s (%(distinct)s distinct); the counter says %(counter)s."
            ) % {**row, "counter": counter})
    for key, counter in counters.items():
        if counter:
            _numbering_report(report, key, expected=counter, actual=0,
                              detail=_("The counter gave numbers, but no document carries them."))
    for kind, prefix in INVOICE_PREFIX.items():
        for invoice in Invoice.objects.filter(kind=kind).exclude(number__startswith=f"{prefix}-").only(
            "id", "number", "kind", "year", "sequence"
        ):
            _numbering_report(report, (kind, invoice.year), expected=invoice.sequence, actual=invoice.sequence,
                              detail=_("Document %(number)s does not carry its kind's prefix.") % {"number": invoice.number})
    return {"invoices": checked}


def _numbering_report(report: ReconciliationReport, key: tuple[str, int], *, expected, actual, detail) -> None:
    kind, year = key
    report(
        ReconciliationFinding(
            kind=Kind.INVOICE_NUMBERING,
            action=Action.REVIEW,
            object_type="orders.invoicesequence",
            object_id=f"{kind}:{year}",
            related=f"{INVOICE_PREFIX.get(kind, kind)}-{year}",
            expected=expected,
            actual=actual,
            detail=str(detail)[:500],
        )
    )
