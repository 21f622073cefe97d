"""Reads for the staff dashboard and reports: sales, orders by status, stuck payments, stock, turnover.

Every figure is one aggregate query; nothing loads whole tables into Python.
Sales count orders by the moment they were paid (`paid_at`, UTC days).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from payments.models import Payment

LOW_STOCK = 5
_DEC = DecimalField(max_digits=24, decimal_places=2)


def _paid_states():
    from shop.orders.models import Order

    return (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.REFUNDED)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in UTC: `end` is inclusive."""
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
    )


def _paid_orders(start: date, end: date):
    from shop.orders.models import Order

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
    from shop.orders.models import Order

    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("id")))
    return [{"status": value, "label": label, "count": counts.get(value, 0)} for value, label in Order.Status.choices]


def payments_stuck(*, limit: int = 20):
    """Payments in `unknown` (the provider's answer is missing), oldest first, and how many there are."""
    qs = Payment.objects.filter(status=Payment.Status.UNKNOWN).select_related("user").order_by("created_at")
    return qs[:limit], qs.count()


def products_low_stock(*, threshold: int = LOW_STOCK, limit: int = 20):
    """Active products with at most `threshold` units available, fewest first."""
    from catalog.models import Stock

    return (
        Stock.objects.filter(product__is_active=True)
        .annotate(available_units=F("on_hand") - F("reserved"))
        .filter(available_units__lte=threshold)
        .select_related("product")
        .order_by("available_units", "product_id")[:limit]
    )


def top_products(*, start: date, end: date, limit: int = 20) -> list[dict]:
    """Best sellers by units (net of returns) among orders paid in the range, with revenue per currency."""
    from shop.orders.models import OrderLine

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
    product_id: int
    sku: str
    name: str
    sold: int
    start_stock: int
    end_stock: int

    @property
    def average_stock(self) -> Decimal:
        return (Decimal(self.start_stock) + Decimal(self.end_stock)) / 2

    @property
    def turnover(self) -> Decimal | None:
        """Units sold / average stock; None when there was no stock to turn over."""
        if self.average_stock <= 0:
            return None
        return (Decimal(self.sold) / self.average_stock).quantize(Decimal("0.01"))


def inventory_turnover(*, start: date, end: date, limit: int | None = 50) -> list[Turnover]:
    """Units sold in the range / average units on hand (mean of the range's first and last day).

    Stock at a moment is rebuilt from the movements: on hand now minus what
    moved since. Products without sales in the range are left out.
    """
    from catalog.models import Stock, StockMovement

    since, until = _bounds(start, end)

    def moved(**filters):
        return Coalesce(
            Subquery(
                StockMovement.objects.filter(product_id=OuterRef("product_id"), **filters)
                .order_by()
                .values("product_id")
                .annotate(total=Sum("on_hand_delta"))
                .values("total"),
                output_field=IntegerField(),
            ),
            Value(0),
        )

    rows = (
        Stock.objects.annotate(
            after=moved(created_at__gte=until),
            during=moved(created_at__gte=since, created_at__lt=until),
            sales=moved(created_at__gte=since, created_at__lt=until, kind=StockMovement.Kind.SALE),
        )
        .filter(sales__lt=0)
        .values("product_id", "product__sku", "product__name", "on_hand", "after", "during", "sales")
        .order_by("sales", "product_id")
    )
    if limit:
        rows = rows[:limit]
    result = []
    for r in rows:
        end_stock = r["on_hand"] - r["after"]
        result.append(
            Turnover(
                product_id=r["product_id"], sku=r["product__sku"], name=r["product__name"], sold=-r["sales"],
                start_stock=end_stock - r["during"], end_stock=end_stock,
            )
        )
    return result


def today_and_month() -> dict:
    """Sales today and this month (UTC) per currency."""
    today = timezone.now().astimezone(UTC).date()
    return {
        "today": today,
        "sales_today": sales_by_currency(start=today, end=today),
        "sales_month": sales_by_currency(start=today.replace(day=1), end=today),
    }


def held_payments_count() -> int:
    from payments.models import PaymentHold

    return PaymentHold.objects.filter(status=PaymentHold.Status.HELD).count()


def open_reconciliation_items() -> int:
    from payments.models import ReconciliationItem

    return ReconciliationItem.objects.filter(Q(resolved=False)).count()
