"""How a guest (no account) reaches their order: a signed link, or the order number with the e-mail.

The link carries the order number signed with the site's SECRET_KEY
(django.core.signing, its own salt) and a time stamp; it opens that one guest
order for ORDER_ACCESS_LINK_DAYS days, and "find my order" hands out a fresh
one. Changing any character of it (a tampered number, a forged signature) is a
404, like an order that does not exist. "Find my order" answers a wrong number
and a wrong e-mail alike, compares the e-mail in constant time, and is
rate-limited per client (the "order_lookup" throttle rate).

An order that was attached to an account (the guest signed up and verified
the e-mail) is no longer a guest order: its owner signs in to see it.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from shop.orders.exceptions import InvoiceNotFound, OrderNotFound
from shop.orders.models import Invoice, InvoiceKind, Order
from shop.orders.selectors import order_detail_queryset

SALT = "shop.orders.guest-access"
# Compared against when no order has the number, so both answers cost one comparison.
_NO_EMAIL = "no-order@invalid.invalid"


def order_access_token(order: Order) -> str:
    """The signed token of a guest order's page (URL-safe, no slash)."""
    return signing.dumps({"n": order.number}, salt=SALT, compress=False)


def order_access_path(order: Order) -> str:
    """The guest order page's path, with its signed token."""
    return reverse("orders:guest_detail", args=[order_access_token(order)])


def order_access_url(order: Order) -> str:
    """The guest order page's absolute URL (for e-mails: settings.SITE_URL in front)."""
    return f"{settings.SITE_URL.rstrip('/')}{order_access_path(order)}"


def order_get_by_access_token(token: str) -> Order:
    """The guest order a signed token opens, shaped for its page; OrderNotFound for a bad, tampered,
    expired token or an order that is not (any more) a guest's."""
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(days=settings.ORDER_ACCESS_LINK_DAYS))
    except signing.BadSignature:  # SignatureExpired is one too
        raise OrderNotFound() from None
    number = data.get("n") if isinstance(data, dict) else None
    if not isinstance(number, str):
        raise OrderNotFound()
    order = order_detail_queryset().filter(number=number, user__isnull=True).first()
    if order is None:
        raise OrderNotFound()
    return order


def _email_normal(email: str) -> bytes:
    return (email or "").strip().casefold().encode()


def order_find_for_guest(*, number: str, email: str) -> Order:
    """The guest order with this number placed with this e-mail; OrderNotFound, the same for a wrong
    number and a wrong e-mail (the e-mail compared in constant time)."""
    order = (
        Order.objects.filter(number=(number or "").strip().upper(), user__isnull=True)
        .only("id", "number", "email")
        .first()
    )
    stored = order.email if order is not None else _NO_EMAIL
    matches = hmac.compare_digest(_email_normal(stored), _email_normal(email))
    if order is None or not matches:
        raise OrderNotFound()
    return order


def invoice_get_for_guest_order(*, order: Order, number: str | None = None) -> Invoice:
    """An invoice or credit note (None: the invoice) of a guest order already opened by its token."""
    documents = Invoice.objects.filter(order=order)
    documents = (
        documents.filter(number=number) if number is not None else documents.filter(kind=InvoiceKind.INVOICE)
    )
    invoice = documents.first()
    if invoice is None:
        raise InvoiceNotFound()
    return invoice
