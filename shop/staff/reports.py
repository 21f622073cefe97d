"""Reads for the staff dashboard and reports: sales, orders by status, stuck payments, stock, turnover.

Every figure is an aggregate query; nothing loads whole tables into Python
(turnover streams the stock counters and the grouped movements side by side).
Sales count orders by the moment they were paid (`paid_at`, UTC days).
"""

import heapq
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Stock, StockMovement
from payments.models import Payment, PaymentHold, ReconciliationItem
from shop.orders.models import Order, OrderLine

LOW_STOCK = 5
_DEC = DecimalField(max_digits=24, decimal_places=2)


def _paid_states():
    return (
        Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED,
        Order.Status.REFUNDED,
    )


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in UTC: `end` is inclusive."""
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
    )


def _paid_orders(start: date, end: date):
    since, until = _bounds(start, end)
    return Order.objects.filter(status__in=_paid_states(), paid_at__gte=since, paid_at__lt=until)


def sales_by_currency(*, start: date, end: date) -> list[dict]:
    """[{currency, orders, total, refunded}] for orders paid between start and end (inclusive)."""
    rows = (
        _paid_orders(start, end)
        .order_by()
        .values("currency")
        .annotate(orders=Count("id"), total=Sum("total"), refunded=Sum("refunded_total"))
        .order_by("currency")
    )
    return [
        {"currency": r["currency"], "orders": r["orders"], "total": r["total"] or Decimal(0),
         "refunded": r["refunded"] or Decimal(0)}
        for r in rows
    ]


def daily_sales(*, start: date, end: date) -> list[dict]:
    """[{day, currency, orders, total, refunded}] per UTC day and currency, oldest first."""
    rows = (
        _paid_orders(start, end)
        .annotate(day=TruncDate("paid_at", tzinfo=UTC))
        .order_by()
        .values("day", "currency")
        .annotate(orders=Count("id"), total=Sum("total"), refunded=Sum("refunded_total"))
        .order_by("day", "currency")
    )
    return [
        {"day": r["day"], "currency": r["currency"], "orders": r["orders"], "total": r["total"] or Decimal(0),
         "refunded": r["refunded"] or Decimal(0)}
        for r in rows
    ]


def orders_by_status() -> list[dict]:
    """[{status, label, count}] over all orders, in the order of the status choices."""
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("id")))
    return [{"status": value, "label": label, "count": counts.get(value, 0)} for value, label in Order.Status.choices]


def payments_stuck(*, limit: int = 20):
    """Payments still waiting on the provider after a call gave no final answer, oldest first, and how many.

    That is every `unknown` payment, and every `processing` one whose call
    failed (it waits for a retry) or whose retry is overdue (its process died,
    or no worker runs); a `processing` payment in its first call is not stuck.
    """
    retrying = Q(last_error_code__gt="") | Q(next_retry_at__lte=timezone.now())
    qs = (
        Payment.objects.filter(Q(status=Payment.Status.UNKNOWN) | Q(retrying, status=Payment.Status.PROCESSING))
        .select_related("user")
        .order_by("created_at")
    )
    return qs[:limit], qs.count()


def products_low_stock(*, threshold: int = LOW_STOCK, limit: int = 20):
    """Active products with at most `threshold` units available, fewest first."""
    return (
        Stock.objects.filter(product__is_active=True)
        .annotate(available_units=F("on_hand") - F("reserved"))
        .filter(available_units__lte=threshold)
        .select_related("product")
        .order_by("available_units", "product_id")[:limit]
    )


def top_products(*, start: date, end: date, limit: int = 20) -> list[dict]:
    """Best sellers by units (net of returns) among orders paid in the range, with revenue per currency."""
    since, until = _bounds(start, end)
    rows = (
        OrderLine.objects.filter(order__status__in=_paid_states(), order__paid_at__gte=since, order__paid_at__lt=until)
        .order_by()
        .values("product_id", "sku", "name", "order__currency")
        .annotate(
            units=Sum(F("quantity") - F("refunded_quantity")),
            revenue=Sum(ExpressionWrapper(F("unit_price") * (F("quantity") - F("refunded_quantity")), output_field=_DEC)),
        )
        .order_by("-units", "sku")[:limit]
    )
    return [
        {"product_id": r["product_id"], "sku": r["sku"], "name": r["name"], "currency": r["order__currency"],
         "units": r["units"] or 0, "revenue": r["revenue"] or Decimal(0)}
        for r in rows
    ]


@dataclass(frozen=True)
class Turnover:
    """One product's stock over a date range: units sold / average end-of-day units on hand."""

    product_id: int
    sku: str
    name: str
    sold: int
    start_stock: int  # on hand at the start of the first day
    end_stock: int  # on hand at the end of the last day
    days: int
    stock_days: int  # the sum of the end-of-day on-hand counts over the range's days

    @property
    def average_stock(self) -> Decimal:
        return (Decimal(self.stock_days) / self.days).quantize(Decimal("0.01"))

    @property
    def turnover(self) -> Decimal | None:
        """Units sold / average stock; 0 for stock that did not sell; None when sold with no stock at any day's end."""
        if self.stock_days <= 0:
            return None if self.sold else Decimal("0.00")
        return (Decimal(self.sold * self.days) / self.stock_days).quantize(Decimal("0.01"))


def _turnover_rows(*, start: date, end: date):
    """Every product that had stock or sold in the range, in product order, streamed.

    Average stock is the mean of the end-of-day units on hand over every day
    of the range, rebuilt from the stock movements: on hand now, minus what
    moved after the range, gives the last day's close; each earlier day's
    close follows from the movements between. Two queries (the movements
    since `start` grouped by product and UTC day, and the stock counters),
    merged in product order: memory does not grow with the catalogue.
    """
    since, until = _bounds(start, end)
    days = (end - start).days + 1
    movements = (
        StockMovement.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("product_id", "day")
        .annotate(delta=Sum("on_hand_delta"), sold=Sum("on_hand_delta", filter=Q(kind=StockMovement.Kind.SALE)))
        .order_by("product_id", "day")
        .iterator(chunk_size=5000)
    )
    stock = (
        Stock.objects.values("product_id", "product__sku", "product__name")
        .annotate(on_hand=Sum("on_hand"))  # over the product's variants and warehouses
        .order_by("product_id")
        .iterator(chunk_size=5000)
    )
    pending = next(movements, None)
    for row in stock:
        product_id = row["product_id"]
        after = during = sold = weighted = 0
        while pending is not None and pending["product_id"] <= product_id:
            if pending["product_id"] == product_id:
                day, delta = pending["day"], pending["delta"] or 0
                if day > end:
                    after += delta
                else:
                    during += delta
                    sold -= pending["sold"] or 0
                    # A change on day i (0-based) is in the close of that day and every later one.
                    weighted += delta * (days - (day - start).days)
            pending = next(movements, None)
        end_stock = row["on_hand"] - after
        start_stock = end_stock - during
        stock_days = start_stock * days + weighted
        if stock_days <= 0 and sold <= 0:
            continue  # no stock and no sales in the range: nothing to turn over
        yield Turnover(
            product_id=product_id, sku=row["product__sku"], name=row["product__name"], sold=sold,
            start_stock=start_stock, end_stock=end_stock, days=days, stock_days=stock_days,
        )


def _fastest_first(t: Turnover):
    return (t.turnover is not None, t.turnover or 0, t.sold)


def inventory_turnover(*, start: date, end: date, limit: int | None = 50) -> list[Turnover]:
    """Units sold / average stock per product for the range, fastest first (sold with no stock on top).

    Products that had stock but did not sell are included (turnover 0) so
    dead stock shows; `limit=None` gives every product, in product order for
    a streamed export (see `inventory_turnover_all`).
    """
    rows = _turnover_rows(start=start, end=end)
    if limit is None:
        return sorted(rows, key=_fastest_first, reverse=True)
    return heapq.nlargest(limit, rows, key=_fastest_first)


def inventory_turnover_all(*, start: date, end: date):
    """Every product's turnover for the range, in product order, streamed (for CSV)."""
    return _turnover_rows(start=start, end=end)


def inventory_slowest(*, start: date, end: date, limit: int = 20) -> list[Turnover]:
    """The slowest stock: lowest turnover first, and among equals the most units sitting idle."""
    return heapq.nsmallest(
        limit,
        (t for t in _turnover_rows(start=start, end=end) if t.turnover is not None),
        key=lambda t: (t.turnover, -t.stock_days, t.product_id),
    )


def today_and_month() -> dict:
    """Sales today and this month (UTC) per currency."""
    today = timezone.now().astimezone(UTC).date()
    return {
        "today": today,
        "sales_today": sales_by_currency(start=today, end=today),
        "sales_month": sales_by_currency(start=today.replace(day=1), end=today),
    }


def held_payments_count() -> int:
    return PaymentHold.objects.filter(status=PaymentHold.Status.HELD).count()


def open_reconciliation_items() -> int:
    return ReconciliationItem.objects.filter(Q(resolved=False)).count()
