"""Reads of orders, shaped for pages and the API; ownership is checked here."""

from django.db.models import Prefetch, QuerySet
from djmoney.money import Money

from payments.models import Payment
from shop.orders.exceptions import OrderNotFound
from shop.orders.models import Order, OrderEvent, OrderLine, OrderLineAllocation, ReturnRequest


def order_list_for_user(*, user) -> QuerySet[Order]:
    """The user's orders, newest first, with their lines and allocations (three queries per page)."""
    return Order.objects.filter(user=user).prefetch_related(_lines())


def _lines() -> Prefetch:
    allocations = Prefetch("allocations", queryset=OrderLineAllocation.objects.select_related("warehouse"))
    return Prefetch("lines", queryset=OrderLine.objects.order_by("id").prefetch_related(allocations))


def order_get_for_user(*, user, number: str) -> Order:
    """The user's own order by number, with lines, events and returns; another user's is 404."""
    order = (
        Order.objects.filter(user=user, number=number)
        .prefetch_related(
            _lines(),
            Prefetch("events", queryset=OrderEvent.objects.select_related("actor").order_by("created_at", "id")),
            Prefetch("returns", queryset=ReturnRequest.objects.prefetch_related("lines")),
        )
        .first()
    )
    if order is None:
        raise OrderNotFound()
    return order


def order_payment_being_confirmed(order: Order) -> bool:
    """Whether the order's payment outcome is still unknown (processing or unknown at the provider)."""
    return Payment.objects.filter(reference=order.number, status__in=Payment.OPEN_STATUSES).exists()


def order_return_left(order: Order) -> dict[int, int]:
    """Per order line id, how many units the shopper may still ask to return: bought, less
    refunded, less those in a return request still waiting for staff (uses the prefetched returns)."""
    pending: dict[int, int] = {}
    for request in order.returns.all():
        if request.status == ReturnRequest.Status.REQUESTED:
            for rl in request.lines.all():
                pending[rl.order_line_id] = pending.get(rl.order_line_id, 0) + rl.quantity
    return {line.id: max(0, line.returnable_quantity - pending.get(line.id, 0)) for line in order.lines.all()}


def order_discounts(order: Order) -> list[dict]:
    """The stored discounts by source: catalogue promotions, then the voucher (with its code); none when zero."""
    rows = []
    promotions = order.discount_total - order.voucher_discount
    if promotions.amount:
        rows.append({"source": "promotion", "amount": promotions})
    if order.voucher_discount.amount:
        rows.append({"source": "voucher", "code": order.voucher_code, "amount": order.voucher_discount})
    return rows


def order_tax_rows(order: Order) -> list[dict]:
    """The stored tax summary as Money: [{rate, net, tax, gross}], highest rate first."""
    return [
        {"rate": row["rate"], "net": Money(row["net"], order.currency), "tax": Money(row["tax"], order.currency),
         "gross": Money(row["gross"], order.currency)}
        for row in order.tax_summary
    ]


def order_breakdown(order: Order) -> dict:
    """The stored price components as the pages and e-mails show them (templates/components/price_breakdown.html)."""
    return {
        "subtotal": order.subtotal,
        "discounts": order_discounts(order),
        "shipping": order.shipping_price if order.shipping else None,
        "shipping_name": (order.shipping or {}).get("name", ""),
        "tax": order_tax_rows(order),
        "tax_total": order.tax_total,
        "prices_include_tax": order.prices_include_tax,
        "gift_card_total": order.gift_card_total,
        "total": order.total,
    }
