"""Reads of orders, shaped for pages and the API; ownership is checked here."""

from collections import defaultdict

from django.db.models import Prefetch, QuerySet, Sum, prefetch_related_objects
from djmoney.money import Money

from catalog.models import Warehouse
from payments.models import Payment
from shop.orders.exceptions import InvoiceNotFound, OrderNotFound
from shop.orders.models import (
    Invoice,
    InvoiceKind,
    Order,
    OrderEvent,
    OrderLine,
    OrderLineAllocation,
    ReturnLine,
    ReturnRequest,
    Shipment,
    ShipmentLine,
)


def order_list_for_user(*, user) -> QuerySet[Order]:
    """The user's orders, newest first, with their lines, allocations, shipments, documents and gift cards
    (eight queries per page)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Order.objects.none()
    return Order.objects.filter(user=user).prefetch_related(_lines(), _shipments(), _documents(), "gift_card_uses")


def _lines() -> Prefetch:
    allocations = Prefetch("allocations", queryset=OrderLineAllocation.objects.select_related("warehouse"))
    return Prefetch("lines", queryset=OrderLine.objects.order_by("id").prefetch_related(allocations))


def _shipments() -> Prefetch:
    lines = Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))
    return Prefetch("shipments", queryset=Shipment.objects.select_related("carrier").prefetch_related(lines))


def _documents() -> Prefetch:
    """The order's invoices and credit notes, oldest first, without their snapshot and PDF."""
    return Prefetch("invoices", queryset=Invoice.objects.order_by("issued_at", "id").defer("document", "pdf"))


def _details() -> tuple:
    """What an order's page shows beside the order: lines, documents, events, returns, shipments and gift cards."""
    return (
        _lines(),
        _documents(),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor").order_by("created_at", "id")),
        Prefetch("returns", queryset=ReturnRequest.objects.prefetch_related("lines")),
        _shipments(),
        "gift_card_uses",
    )


def order_detail_queryset() -> QuerySet[Order]:
    """Orders with what their page shows: lines, documents, events, returns, shipments and gift cards."""
    return Order.objects.prefetch_related(*_details())


def order_get_for_user(*, user, number: str) -> Order:
    """The user's own order by number, with lines, events and returns; another user's is 404."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise OrderNotFound()  # a guest's order (no user) is nobody's to open here
    order = order_detail_queryset().filter(user=user, number=number).first()
    if order is None:
        raise OrderNotFound()
    return order


def order_details_load(order: Order) -> Order:
    """An order its caller holds, current (just placed, or just read for its owner), with what
    order_get_for_user loads beside it: the order row is not read again, nor its gift-card uses when
    no gift card paid any of it (its stored gift_card_total is zero)."""
    details = _details()
    if not order.gift_card_total.amount:
        details = tuple(d for d in details if d != "gift_card_uses")
        related_cache_fill(order, "gift_card_uses", [])
    prefetch_related_objects([order], *details)
    return order


def related_cache_fill(instance, name: str, objects) -> None:
    """Give `instance` its related `name` (a reverse foreign key) as prefetch_related would, from objects in
    hand: `instance.<name>.all()` answers them without a query, and a later prefetch_related_objects
    leaves it alone."""
    queryset = getattr(instance, name).get_queryset()
    queryset._result_cache = list(objects)  # what Django's own prefetch stores (prefetch_one_level)
    queryset._prefetch_done = True
    instance._prefetched_objects_cache = {**getattr(instance, "_prefetched_objects_cache", {}), name: queryset}


def order_placed_details(order: Order) -> Order:
    """A wallet order its checkout has just made and paid, with order_details_load's details taken from what
    that transaction wrote (`created_lines` and their `created_allocations`, `created_events`,
    `issued_invoice`): nothing is read again but its gift-card uses, when gift cards paid part of it.

    A new order has no returns and no shipments yet. Lines come with their allocations and warehouses,
    events oldest first, as order_details_load gives them.
    """
    lines = sorted(order.created_lines, key=lambda line: line.pk)
    allocations = [a for line in lines for a in line.created_allocations]
    warehouses = Warehouse.objects.in_bulk({a.warehouse_id for a in allocations})  # one query: their codes
    for allocation in allocations:
        allocation.warehouse = warehouses[allocation.warehouse_id]
    for line in lines:
        related_cache_fill(line, "allocations", sorted(line.created_allocations, key=lambda a: a.warehouse_id))
    related_cache_fill(order, "lines", lines)
    related_cache_fill(order, "invoices", [order.issued_invoice])
    related_cache_fill(order, "events", order.created_events)
    related_cache_fill(order, "returns", [])
    related_cache_fill(order, "shipments", [])
    return order_details_load(order)


def order_payment_being_confirmed(order: Order) -> bool:
    """Whether the order's payment outcome is still unknown (processing or unknown at the provider)."""
    return Payment.objects.filter(reference=order.number, status__in=Payment.OPEN_STATUSES).exists()


def order_return_left(order: Order) -> dict[int, int]:
    """Per order line id, how many units the shopper may still ask to return: those shipped, less
    those in a return request approved or still waiting for staff (uses prefetched shipments and
    returns when there are). A line not shipped yet has none to return."""
    shipped: dict[int, int] = {}
    for shipment in order.shipments.all():
        for sl in shipment.lines.all():
            shipped[sl.order_line_id] = shipped.get(sl.order_line_id, 0) + sl.quantity
    taken: dict[int, int] = {}
    for request in order.returns.all():
        if request.status != ReturnRequest.Status.REJECTED:
            for rl in request.lines.all():
                taken[rl.order_line_id] = taken.get(rl.order_line_id, 0) + rl.quantity
    return {line.id: max(0, shipped.get(line.id, 0) - taken.get(line.id, 0)) for line in order.lines.all()}


def order_shipped_quantities(order_id: int, *, warehouse_id: int | None = None) -> dict[int, int]:
    """Units shipped so far per order line id (from one warehouse, or from all)."""
    rows = ShipmentLine.objects.filter(shipment__order_id=order_id)
    if warehouse_id is not None:
        rows = rows.filter(shipment__warehouse_id=warehouse_id)
    return {r["order_line_id"]: r["n"] for r in rows.values("order_line_id").annotate(n=Sum("quantity"))}


def order_returned_quantities(order_id: int) -> dict[int, int]:
    """Units of each order line taken back by approved returns."""
    rows = (
        ReturnLine.objects.filter(
            return_request__order_id=order_id, return_request__status=ReturnRequest.Status.APPROVED
        )
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
    )
    return {row["order_line_id"]: row["n"] for row in rows}


def order_unshipped_by_warehouse(order_id: int) -> dict[int, dict[int, int]]:
    """Per warehouse id, per order line id: units allocated there and not shipped from there."""
    shipped: dict[tuple[int, int], int] = defaultdict(int)
    for line_id, wid, n in ShipmentLine.objects.filter(shipment__order_id=order_id).values_list(
        "order_line_id", "shipment__warehouse_id", "quantity"
    ):
        shipped[(line_id, wid)] += n
    left: dict[int, dict[int, int]] = defaultdict(dict)
    for line_id, wid, allocated in OrderLineAllocation.objects.filter(line__order_id=order_id).values_list(
        "line_id", "warehouse_id", "quantity"
    ).order_by("warehouse_id", "line_id"):
        free = allocated - shipped[(line_id, wid)]
        if free > 0:
            left[wid][line_id] = free
    return dict(left)


def invoice_get_for_user(*, user, order_number: str, number: str | None = None, staff_access: bool = False) -> Invoice:
    """An invoice or credit note (by its number; None: the invoice) of the user's own order; else 404.

    With `staff_access`, staff holding `orders.view_invoice` may open any order's documents.
    """
    documents = Invoice.objects.filter(order__number=order_number)
    if not (staff_access and user.is_staff and user.has_perm("orders.view_invoice")):
        if not getattr(user, "is_authenticated", False):
            raise InvoiceNotFound()  # guests open their documents through the signed order page
        documents = documents.filter(order__user=user)
    documents = documents.filter(number=number) if number is not None else documents.filter(kind=InvoiceKind.INVOICE)
    invoice = documents.first()
    if invoice is None:
        raise InvoiceNotFound()
    return invoice


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


def order_shipping_charged(order: Order, *, lines=None) -> Money:
    """What the shopper paid for shipping, tax included: the method's price less a free-shipping
    voucher's discount. Derived from the stored components (the order's total before gift cards,
    less its lines' gross), so returns and invoices state the same amount. `lines`: the order's
    lines when the caller has read them already."""
    lines = order.lines.all() if lines is None else lines
    lines_gross = sum((line.gross for line in lines), Money(0, order.currency))
    return order.total + order.gift_card_total - lines_gross


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
        "gift_cards": [{"last4": use.last4, "amount": use.amount} for use in order.gift_card_uses.all()],
        "gift_card_total": order.gift_card_total,
        "total": order.total,
    }
