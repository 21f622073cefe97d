"""Invoices and credit notes: numbering, frozen snapshots, the PDF, replays and e-mail attachments."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from payments.models import Payment, Refund
from shop.orders.invoice_pdf import invoice_pdf_render
from shop.orders.models import Invoice, InvoiceKind, InvoiceSequence, Order, OrderLine
from shop.orders.privacy import orders_export
from shop.orders.services.invoices import credit_note_issue, invoice_issue, invoice_pdf
from shop.orders.services.outbox import outbox_drain
from shop.orders.services.payment_handlers import order_payment_succeeded
from shop.orders.services.returns import return_request_approve, return_request_create
from shop.orders.services.shipments import order_deliver_everything
from shop.orders.services.transitions import order_refund
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.shipments import ship_all
from tests.orders.test_services import place_wallet

pytestmark = pytest.mark.django_db
YEAR = timezone.now().year


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF (pypdf reads it as a PDF viewer would)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def paid_order(user, *items) -> Order:
    cart_fill(user, *items)
    return place_wallet(user).order


def test_paying_an_order_issues_its_invoice_with_the_next_number(shopper, product):
    first = paid_order(shopper, (product, 1))
    second = paid_order(shopper, (product, 2))
    numbers = [first.invoices.get().number, second.invoices.get().number]
    assert numbers == [f"INV-{YEAR}-000001", f"INV-{YEAR}-000002"]
    invoice = second.invoices.get()
    assert (invoice.kind, invoice.year, invoice.sequence, invoice.refers_to) == (InvoiceKind.INVOICE, YEAR, 2, None)
    assert invoice.total == second.total == Money("20.00", "USD")
    assert InvoiceSequence.objects.get(kind=InvoiceKind.INVOICE, year=YEAR).last_number == 2


def test_credit_notes_are_numbered_apart_and_refer_to_the_invoice(shopper, product):
    order = paid_order(shopper, (product, 2))
    paid_order(shopper, (product, 1))
    order_refund(order_id=order.id, reason="changed my mind")
    note = order.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    invoice = order.invoices.get(kind=InvoiceKind.INVOICE)
    assert note.number == f"CN-{YEAR}-000001"
    assert note.refers_to == invoice
    assert note.refund_reference == f"{order.number}-refund"
    assert note.total == Money("20.00", "USD")
    assert [(line["sku"], line["quantity"], line["gross"]) for line in note.document["lines"]] == [
        (product.sku, 2, "20.00")
    ]
    assert InvoiceSequence.objects.get(kind=InvoiceKind.INVOICE, year=YEAR).last_number == 2


def test_numbers_start_again_each_year(shopper, product, monkeypatch):
    for moment, expected in [
        (datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC), "INV-2031-000001"),
        (datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC), "INV-2031-000002"),
        (datetime(2032, 1, 1, 0, 0, 1, tzinfo=UTC), "INV-2032-000001"),
    ]:
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        order = paid_order(shopper, (product, 1))
        invoice = order.invoices.get()
        assert invoice.number == expected
        assert invoice.document["issue_date"] == moment.date().isoformat()


def test_a_rolled_back_issue_gives_its_number_back(shopper, product):
    cart_fill(shopper, (product, 1))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        order = place_wallet(shopper).order
        assert order.invoices.get().number == f"INV-{YEAR}-000001"
        raise Abort
    assert not Invoice.objects.exists()
    assert paid_order(shopper, (product, 1)).invoices.get().number == f"INV-{YEAR}-000001"


def test_a_replayed_paid_event_issues_no_second_invoice(shopper, product):
    order = paid_order(shopper, (product, 1))
    payment = Payment.objects.get(pk=order.payment_id)
    with transaction.atomic():
        order_payment_succeeded(payment)  # the webhook's replay of the same success
        assert invoice_issue(Order.objects.select_for_update().get(pk=order.pk)) == order.invoices.get()
    assert Invoice.objects.count() == 1
    assert InvoiceSequence.objects.get(kind=InvoiceKind.INVOICE).last_number == 1


def test_a_replayed_refund_issues_no_second_credit_note(shopper, product):
    order = paid_order(shopper, (product, 1))
    order_refund(order_id=order.id)
    refund = Refund.objects.get(reference=f"{order.number}-refund")
    with transaction.atomic():
        again = credit_note_issue(order, refund_reference=refund.reference, amount=refund.amount, lines={})
    assert again == order.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    assert Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).count() == 1


def test_the_snapshot_states_lines_tax_summary_and_totals(shopper, product):
    other = make_product(price="2.50", on_hand=5)
    order = paid_order(shopper, (product, 3), (other, 2))
    document = order.invoices.get().document
    lines = {line["sku"]: line for line in document["lines"]}
    assert lines[product.sku] | {"line_id": None} == {
        "line_id": None, "sku": product.sku, "name": product.name, "options": lines[product.sku]["options"],
        "quantity": 3, "unit_price": "10.00", "discount": "0.00", "net": "30.00", "tax_rate": "0.00",
        "tax": "0.00", "gross": "30.00",
    }
    assert document["tax_summary"] == [{"rate": "0.00", "net": "35.00", "tax": "0.00", "gross": "35.00"}]
    assert (document["subtotal"], document["tax_total"], document["net_total"], document["total"]) == (
        "35.00", "0.00", "35.00", "35.00"
    )
    assert sum(Decimal(line["gross"]) for line in document["lines"]) == Decimal(document["total"])
    assert document["seller"]["name"] == "Demo Shop GmbH"
    assert document["buyer"]["email"] == shopper.email
    assert document["order_number"] == order.number
    assert document["currency"] == "USD"


def test_an_issued_document_never_changes_when_the_order_or_settings_do(shopper, product, settings):
    order = paid_order(shopper, (product, 1))
    invoice = order.invoices.get()
    first_pdf = invoice_pdf(invoice)
    settings.SHOP_SELLER_NAME = "Another Seller Ltd"
    OrderLine.objects.filter(order=order).update(name="Renamed")
    Order.objects.filter(pk=order.pk).update(shipping_address={"full_name": "Someone Else"})
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert invoice.document["seller"]["name"] == "Demo Shop GmbH"
    assert invoice_pdf(invoice) == first_pdf
    # Rendered again from the snapshot alone (no stored bytes), it is still the same document.
    assert invoice_pdf_render(invoice.document) == first_pdf
    text = pdf_text(first_pdf)
    assert "Demo Shop GmbH" in text and "Another Seller" not in text and "Renamed" not in text


def test_the_pdf_shows_number_buyer_with_umlauts_lines_and_totals_in_the_buyers_language(product):
    shopper = shopper_new()
    shopper.preferred_language = "de"
    shopper.save(update_fields=["preferred_language"])
    shopper.addresses.update(full_name="Jürgen Müßig", city="München")
    order = paid_order(shopper, (product, 2))
    invoice = order.invoices.get()
    data = invoice_pdf(invoice)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert invoice.number in text
    assert order.number in text
    assert "Jürgen Müßig" in text and "München" in text
    assert product.sku in text
    assert "Rechnung" in text  # the German title
    assert "20,00" in text  # the total, in German number format with its currency
    assert "DE123456789" in text


def test_a_euro_invoice_prints_the_euro_sign(rates, product):
    shopper = shopper_new(currency="EUR")
    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper, currency="EUR").order
    text = pdf_text(invoice_pdf(order.invoices.get()))
    assert "€" in text
    assert order.invoices.get().total.currency.code == "EUR"


def test_a_return_issues_a_credit_note_for_the_returned_units_only(shopper, product):
    other = make_product(price="5.00", on_hand=4)
    order = paid_order(shopper, (product, 2), (other, 1))
    ship_all(order)
    order_deliver_everything(order_id=order.id)
    line = order.lines.get(product=product)
    request = return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="too big")
    return_request_approve(return_id=request.id)
    note = order.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    assert note.refund_reference == f"{order.number}-return-{request.id}"
    assert [(row["sku"], row["quantity"], row["gross"]) for row in note.document["lines"]] == [(product.sku, 1, "10.00")]
    assert note.total == Money("10.00", "USD")
    text = pdf_text(invoice_pdf(note))
    assert note.number in text
    assert f"Credit note for invoice {note.refers_to.number}" in text
    assert "10.00" in text


def test_a_refund_of_a_sum_is_credited_as_one_line_totalling_the_refund(shopper, product):
    order = paid_order(shopper, (product, 2))
    with transaction.atomic():
        note = credit_note_issue(
            Order.objects.select_for_update().get(pk=order.pk), refund_reference="goodwill-1",
            amount=Money("3.50", "USD"),
        )
    assert note.total == Money("3.50", "USD")
    assert [(line.get("kind"), line["gross"]) for line in note.document["lines"]] == [("adjustment", "3.50")]
    assert "Other amounts refunded" in pdf_text(invoice_pdf(note))


def test_a_refund_of_an_order_without_invoice_issues_no_credit_note(shopper, product):
    order = paid_order(shopper, (product, 1))
    Invoice.objects.filter(order=order).delete()  # an order paid before invoices existed
    with transaction.atomic():
        assert credit_note_issue(order, refund_reference="r", amount=Money("1.00", "USD")) is None


def test_the_paid_email_carries_the_invoice_and_the_refund_email_the_credit_note(shopper, product):
    order = paid_order(shopper, (product, 1))
    order_refund(order_id=order.id)
    assert outbox_drain() == 3
    by_kind = {message.extra_headers["X-Order"] + message.subject: message for message in mail.outbox}
    assert len(by_kind) == 3
    invoice, note = order.invoices.get(kind="invoice"), order.invoices.get(kind="credit_note")
    attachments = {m.subject: [(name, kind, content[:5]) for name, content, kind in m.attachments] for m in mail.outbox}
    assert sorted(attachments.values()) == sorted([
        [], [(invoice.filename, "application/pdf", b"%PDF-")], [(note.filename, "application/pdf", b"%PDF-")],
    ])
    # The outbox row names the document; the PDF is loaded when the e-mail is sent.
    row = order.emails.get(kind="order_paid")
    assert row.context == {"attachments": [invoice.id]}
    sent = next(m for m in mail.outbox if m.attachments and m.attachments[0][0] == invoice.filename)
    assert sent.attachments[0][1] == invoice_pdf(invoice)


def test_the_personal_data_export_lists_the_documents(shopper, product):
    order = paid_order(shopper, (product, 1))
    invoice = order.invoices.get()
    assert orders_export(user=shopper)[0]["documents"] == [
        {"kind": "invoice", "number": invoice.number, "issued_at": invoice.issued_at}
    ]
