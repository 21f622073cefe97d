"""Orders' part of a personal-data export and erasure (registered in OrdersConfig.ready).

Orders stay on erasure (they are the shop's books and back its invoices):
their address snapshot and e-mail are blanked, keeping the country (the
tax the invoice charged depends on it); e-mails not sent yet are dropped,
and sent ones lose their recipient and contents. Issued invoices and credit
notes keep the buyer they name: they are the shop's books, kept unchanged
for as long as the law requires, and are listed in the export.
"""

from shop.orders.models import Order, OutboxEmail
from shop.orders.selectors import order_list_for_user

ADDRESS_KEPT = ("country",)


def orders_export(*, user) -> list[dict]:
    """The person's orders, oldest first, with their lines and status history."""
    orders = order_list_for_user(user=user).prefetch_related("events").order_by("created_at", "id")
    return [
        {
            "number": order.number,
            "status": order.status,
            "placed_at": order.created_at,
            "paid_at": order.paid_at,
            "payment_method": order.payment_method,
            "total": {"amount": order.total.amount, "currency": str(order.total.currency)},
            "refunded_total": {"amount": order.refunded_total.amount, "currency": str(order.refunded_total.currency)},
            "email": order.email,
            "shipping_address": order.shipping_address,
            "lines": [
                {"sku": line.sku, "name": line.name, "quantity": line.quantity,
                 "unit_price": {"amount": line.unit_price.amount, "currency": str(line.unit_price.currency)}}
                for line in order.lines.all()
            ],
            "events": [
                {"from": event.from_status, "to": event.to_status, "at": event.created_at}
                for event in order.events.all()
            ],
            "documents": [
                {"kind": invoice.kind, "number": invoice.number, "issued_at": invoice.issued_at}
                for invoice in order.invoices.all()
            ],
        }
        for order in orders
    ]


def _address_anonymised(snapshot: dict) -> dict:
    return {key: (value if key in ADDRESS_KEPT else "") for key, value in (snapshot or {}).items()}


def orders_erase(*, user) -> dict:
    """Blank the address snapshot and e-mail of every order of the person; drop their unsent e-mails."""
    orders = list(Order.objects.select_for_update().filter(user=user).order_by("id"))
    for order in orders:
        order.shipping_address = _address_anonymised(order.shipping_address)
        order.email = ""
    Order.objects.bulk_update(orders, ["shipping_address", "email"], batch_size=500)
    outbox = OutboxEmail.objects.filter(order__user=user)
    dropped, _rows = outbox.filter(sent_at__isnull=True).delete()
    blanked = outbox.update(recipient="", context={})
    return {"orders": len(orders), "emails_dropped": dropped, "emails_blanked": blanked}
