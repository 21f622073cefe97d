"""Invoices and credit notes: issued in the transaction that marks an order paid or records a refund.

Numbering: one `InvoiceSequence` row per (kind, year), created or advanced
by one upsert inside the issuing transaction (which locks it); the number and the
document are written in that same transaction, so a rollback gives the
number back (no gaps) and a commit keeps it for good (never reused).
Lock order: the order row (the caller's), then the sequence row; every
issuer takes them in that order, so issuers never deadlock. The sequence
lock is held until the issuing transaction commits: issues of one kind are
serialised, which is the price of gap-free numbers.

What a document says is a JSON snapshot (`Invoice.document`) frozen at
issue; the PDF renderer (shop.orders.invoice_pdf) and every test of totals
read only that snapshot. `invoice_document_from_order` is the one place
that reads an order's money.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from djmoney.money import Money

from shop.core.money import money_round
from shop.orders.invoice_models import INVOICE_PREFIX, Invoice, InvoiceKind, InvoiceSequence
from shop.orders.invoice_pdf import invoice_pdf_render
from shop.orders.models import Order
from shop.orders.selectors import order_shipping_charged

ZERO_RATE = "0.00"


def _amount(money: Money) -> str:
    """A snapshot amount: the decimal string rounded to the currency's minor unit ("12.50")."""
    return str(money_round(money).amount)


def invoice_document_from_order(order: Order) -> dict:
    """What the order's invoice says: seller, buyer, lines, tax summary and totals (amounts as strings).

    The one function that reads an order's money for documents, from the components checkout
    stored (docs/pricing.md): each line's unit price, discount, net, tax rate, tax and gross
    (gross = net + tax, discounts already taken off); shipping as charged, after any
    free-shipping voucher, split into its net and its tax. So the document's total, the lines'
    gross plus shipping, is the order's total before gift cards (a way of paying, shown apart).
    """
    currency = order.currency
    order_lines = list(order.lines.all())  # one read (or the caller's prefetch) for the lines and the shipping
    lines = []
    for line in order_lines:
        lines.append({
            "line_id": line.id, "sku": line.sku, "name": line.name, "options": dict(line.options or {}),
            "quantity": line.quantity, "unit_price": _amount(line.unit_price),
            "discount": _amount(line.discount), "net": _amount(line.net), "tax_rate": _rate_text(line.tax_rate),
            "tax": _amount(line.tax), "gross": _amount(line.gross),
        })
    shipping_net = order_shipping_charged(order, lines=order_lines) - order.shipping_tax
    document = {
        "currency": currency,
        "order_number": order.number,
        "order_date": timezone.localdate(order.created_at).isoformat(),
        "language": (order.user.preferred_language if order.user_id else "") or settings.LANGUAGE_CODE,
        "seller": invoice_seller(),
        "buyer": _buyer(order),
        "lines": lines,
        "discount_total": _amount(Money(0, currency)),  # every discount sits on its line or in the shipping
        "shipping": _amount(shipping_net),
        "shipping_tax": _amount(order.shipping_tax),
        "gift_card_total": _amount(order.gift_card_total),
    }
    return document_totals(document)


def _rate_text(rate: Decimal) -> str:
    """A tax rate as documents key it: two decimals ("19.00", "5.50"), more only when it has them."""
    rounded = rate.quantize(Decimal("0.01"))
    return str(rounded) if rounded == rate else format(rate.normalize(), "f")


def invoice_seller() -> dict:
    """The seller as the settings name it now (frozen into each document at issue)."""
    return {
        "name": settings.SHOP_SELLER_NAME,
        "address": list(settings.SHOP_SELLER_ADDRESS),
        "vat_id": settings.SHOP_SELLER_VAT_ID,
        "email": settings.SHOP_SELLER_EMAIL,
        "registration": settings.SHOP_SELLER_REGISTRATION,
    }


def _buyer(order: Order) -> dict:
    address = order.shipping_address or {}
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    parts = [address.get("line1"), address.get("line2"), city, address.get("region"), address.get("country")]
    return {
        "name": address.get("full_name", ""),
        "address": [str(part) for part in parts if part],
        "email": order.email or (order.user.email if order.user_id else ""),
    }


def document_totals(document: dict) -> dict:
    """The document with its tax summary (by rate) and totals, computed from its own lines only.

    subtotal = sum of line gross; total = subtotal - discount_total + shipping + shipping_tax.
    Line gross already includes the line's discount and tax (net + tax); gift cards are a way
    of paying, shown but not deducted from the invoice total.
    """
    currency = document["currency"]
    summary: dict[str, dict[str, Decimal]] = {}
    for line in document["lines"]:
        rate = summary.setdefault(line["tax_rate"], {"net": Decimal(0), "tax": Decimal(0)})
        rate["net"] += Decimal(line["net"])
        rate["tax"] += Decimal(line["tax"])
    shipping_tax = Decimal(document["shipping_tax"])
    subtotal = sum((Decimal(line["gross"]) for line in document["lines"]), Decimal(0))
    tax_total = sum((rate["tax"] for rate in summary.values()), Decimal(0)) + shipping_tax
    total = subtotal - Decimal(document["discount_total"]) + Decimal(document["shipping"]) + shipping_tax

    def money(value: Decimal) -> str:
        return _amount(Money(value, currency))

    return {
        **document,
        "tax_summary": [
            {"rate": rate, "net": money(v["net"]), "tax": money(v["tax"]), "gross": money(v["net"] + v["tax"])}
            for rate, v in sorted(summary.items(), key=lambda item: Decimal(item[0]))
        ],
        "subtotal": money(subtotal),
        "tax_total": money(tax_total),
        "net_total": money(total - tax_total),
        "total": money(total),
    }


def _number_take(kind: str, year: int) -> int:
    """The next number of (kind, year); locks its sequence row until the caller's transaction ends.

    One statement: an upsert that creates the year's row at 1 or adds one to it, and returns the
    number. On PostgreSQL the conflicting update takes the row's lock (a second issuer waits for
    the first one's commit or rollback, then adds one to what it left); on SQLite the write lock
    of the database serialises issuers the same way.
    """
    table = connection.ops.quote_name(InvoiceSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, year, last_number) VALUES (%s, %s, 1) "  # noqa: S608 - table name only
            f"ON CONFLICT (kind, year) DO UPDATE SET last_number = {table}.last_number + 1 "
            "RETURNING last_number",
            [kind, year],
        )
        return cursor.fetchone()[0]


def _document_issue(*, order: Order, kind: str, document: dict, refers_to=None, refund_reference="") -> Invoice:
    """Number and store a document; the number's sequence lock is the last lock taken."""
    issued_at = timezone.now()
    year = timezone.localtime(issued_at).year
    sequence = _number_take(kind, year)
    number = f"{INVOICE_PREFIX[kind]}-{year}-{sequence:06d}"
    document = {
        **document, "kind": kind, "number": number, "issued_at": issued_at.isoformat(),
        "issue_date": timezone.localdate(issued_at).isoformat(),
        "refers_to": refers_to.number if refers_to else "",
    }
    currency = document["currency"]
    return Invoice.objects.create(
        order=order, kind=kind, number=number, year=year, sequence=sequence, refers_to=refers_to,
        refund_reference=refund_reference, issued_at=issued_at, document=document,
        net_total=Money(document["net_total"], currency), tax_total=Money(document["tax_total"], currency),
        total=Money(document["total"], currency),
    )


def invoice_issue(order: Order, *, first_time: bool = False) -> Invoice:
    """Issue the order's invoice, once: a replay returns the invoice issued the first time.

    Call inside the transaction that marks the order paid, holding the
    order's row lock (order_mark_paid_locked); takes the invoice sequence's
    lock after it. `first_time`: the caller has just moved the order out of
    pending payment under that lock, so no invoice can exist yet and none is
    looked for (the unique constraint on order, kind and refund reference
    still refuses a second one).
    """
    with transaction.atomic(savepoint=False):
        existing = None if first_time else Invoice.objects.filter(order=order, kind=InvoiceKind.INVOICE).first()
        if existing is not None:
            return existing
        return _document_issue(order=order, kind=InvoiceKind.INVOICE, document=invoice_document_from_order(order))


def credit_note_issue(
    order: Order, *, refund_reference: str, amount: Money, lines: dict[int, int] | None = None
) -> Invoice | None:
    """Issue a credit note for a refund of the order's invoice, once per refund reference.

    `lines` (order line id -> units) are the units the refund gives back;
    they are priced from the invoice's own snapshot, and any difference to
    the refunded `amount` (a capped return, a refund of a sum) is a line of
    its own, so the credit note's total is exactly what was refunded. An
    order without an invoice (a late payment refunded for a cancelled order)
    gets none. Call inside the refund's transaction, holding the order's lock.
    """
    with transaction.atomic(savepoint=False):
        existing = Invoice.objects.filter(
            order=order, kind=InvoiceKind.CREDIT_NOTE, refund_reference=refund_reference
        ).first()
        if existing is not None:
            return existing
        invoice = Invoice.objects.filter(order=order, kind=InvoiceKind.INVOICE).first()
        if invoice is None:
            return None
        document = credit_note_document(invoice.document, lines=lines or {}, amount=amount)
        return _document_issue(
            order=order, kind=InvoiceKind.CREDIT_NOTE, document=document, refers_to=invoice,
            refund_reference=refund_reference,
        )


def credit_note_document(invoice_document: dict, *, lines: dict[int, int], amount: Money) -> dict:
    """A credit note's snapshot from its invoice's snapshot: the given units, totalling `amount`."""
    currency = invoice_document["currency"]
    credited = []
    for line in invoice_document["lines"]:
        units = min(lines.get(line.get("line_id"), 0), line["quantity"])
        if units <= 0:
            continue
        share = Decimal(units) / Decimal(line["quantity"])
        net = money_round(Money(Decimal(line["net"]) * share, currency)).amount
        tax = money_round(Money(Decimal(line["tax"]) * share, currency)).amount
        discount = money_round(Money(Decimal(line["discount"]) * share, currency)).amount
        credited.append({**line, "quantity": units, "discount": str(discount), "net": str(net), "tax": str(tax),
                         "gross": str(net + tax)})
    difference = money_round(amount).amount - sum((Decimal(line["gross"]) for line in credited), Decimal(0))
    if difference:
        credited.append({
            "line_id": None, "kind": "adjustment", "sku": "", "name": "", "options": {}, "quantity": 1,
            "unit_price": str(difference), "discount": "0.00", "net": str(difference), "tax_rate": ZERO_RATE,
            "tax": "0.00", "gross": str(difference),
        })
    zero = _amount(Money(0, currency))
    document = {
        **{key: invoice_document[key] for key in ("currency", "order_number", "order_date", "language",
                                                  "seller", "buyer")},
        "lines": credited, "discount_total": zero, "shipping": zero, "shipping_tax": zero, "gift_card_total": zero,
    }
    return document_totals(document)


def invoice_pdf(invoice: Invoice) -> bytes:
    """The document's PDF: the stored bytes, or rendered from its snapshot and stored on first use."""
    if invoice.pdf:
        return bytes(invoice.pdf)
    stored = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).first()
    if stored:
        invoice.pdf = bytes(stored)
        return invoice.pdf
    pdf = invoice_pdf_render(invoice.document)
    # Deterministic rendering: a racing first render stores the same bytes; the first write wins.
    Invoice.objects.filter(pk=invoice.pk, pdf__isnull=True).update(pdf=pdf)
    invoice.pdf = pdf
    return pdf
