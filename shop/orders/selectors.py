"""Reads of orders, shaped for pages and the API; ownership is checked here."""

from django.db.models import Prefetch, QuerySet

from payments.models import Payment
from shop.orders.exceptions import InvoiceNotFound, OrderNotFound
from shop.orders.models import (
    Invoice,
    InvoiceKind,
    Order,
    OrderEvent,
    OrderLine,
    OrderLineAllocation,
    ReturnRequest,
)


def order_list_for_user(*, user) -> QuerySet[Order]:
    """The user's orders, newest first, with their lines and allocations (three queries per page)."""
    return Order.objects.filter(user=user).prefetch_related(_lines(), _documents())


def _lines() -> Prefetch:
    allocations = Prefetch("allocations", queryset=OrderLineAllocation.objects.select_related("warehouse"))
    return Prefetch("lines", queryset=OrderLine.objects.order_by("id").prefetch_related(allocations))


def _documents() -> Prefetch:
    """The order's invoices and credit notes, oldest first, without their snapshot and PDF."""
    return Prefetch("invoices", queryset=Invoice.objects.order_by("issued_at", "id").defer("document", "pdf"))


def order_get_for_user(*, user, number: str) -> Order:
    """The user's own order by number, with lines, events and returns; another user's is 404."""
    order = (
        Order.objects.filter(user=user, number=number)
        .prefetch_related(
            _lines(),
            _documents(),
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


def invoice_get_for_user(*, user, order_number: str, number: str | None = None, staff_access: bool = False) -> Invoice:
    """An invoice or credit note (by its number; None: the invoice) of the user's own order; else 404.

    With `staff_access`, staff holding `orders.view_invoice` may open any order's documents.
    """
    documents = Invoice.objects.filter(order__number=order_number)
    if not (staff_access and user.is_staff and user.has_perm("orders.view_invoice")):
        documents = documents.filter(order__user=user)
    documents = documents.filter(number=number) if number is not None else documents.filter(kind=InvoiceKind.INVOICE)
    invoice = documents.first()
    if invoice is None:
        raise InvoiceNotFound()
    return invoice
