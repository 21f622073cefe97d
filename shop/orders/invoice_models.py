"""Invoices and credit notes: numbered per kind and year, gap-free, frozen once issued.

Imported at the end of shop/orders/models.py, so the models belong to the
orders app and its migrations.

What a document says is the `document` JSON snapshot written when it is
issued (seller, buyer, lines, tax summary, totals: see
shop.orders.services.invoices); the PDF is rendered from that snapshot only,
never from the order or the settings, so later changes to either cannot
alter an issued document.

The PDF bytes are stored, rendered once on first use (the e-mail or the
first download, after the issuing transaction commits) rather than inside
the payment's transaction: rendering takes tens of milliseconds and would
otherwise be done under the order's and the number sequence's locks. The
renderer is a pure, deterministic function of the snapshot (fixed creation
date, bundled font), so two first renders racing write the same bytes, and
once stored the bytes that were e-mailed are the bytes downloaded, even
after a library or translation upgrade.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("invoice")
    CREDIT_NOTE = "credit_note", _("credit note")


# The number's prefix per kind: INV-2026-000123, CN-2026-000007.
INVOICE_PREFIX = {InvoiceKind.INVOICE: "INV", InvoiceKind.CREDIT_NOTE: "CN"}


class InvoiceSequence(models.Model):
    """The last number given per (kind, year).

    Numbers are taken under this row's lock (an upsert that adds one) inside the
    transaction that issues the document: a rolled-back issue gives its
    number back with it (no gap), a committed one keeps it for good (never
    reused).
    """

    kind = models.CharField(_("kind"), max_length=12, choices=InvoiceKind.choices)
    year = models.PositiveIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("invoice number sequence")
        verbose_name_plural = _("invoice number sequences")
        constraints = [
            models.UniqueConstraint(fields=["kind", "year"], name="orders_invoice_sequence_one_per_kind_year"),
        ]

    def __str__(self):
        return f"{self.kind} {self.year}: {self.last_number}"


class Invoice(models.Model):
    """An issued invoice or credit note of an order; never changed or deleted once issued."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(_("kind"), max_length=12, choices=InvoiceKind.choices)
    number = models.CharField(_("number"), max_length=32, unique=True)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("sequence"))
    refers_to = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes",
        verbose_name=_("credit note for"),
    )
    # The refund a credit note answers for (payments' refund reference); empty for an invoice.
    refund_reference = models.CharField(_("refund reference"), max_length=120, blank=True, default="")
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    net_total = MoneyField(_("net"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    tax_total = MoneyField(_("tax"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    total = MoneyField(_("total"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    document = models.JSONField(_("document"), default=dict)
    pdf = models.BinaryField(_("PDF"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["issued_at", "id"]
        constraints = [
            # A replayed paid or refund event finds the document it issued the first time.
            models.UniqueConstraint(
                fields=["order", "kind", "refund_reference"], name="orders_invoice_one_per_order_event"
            ),
            models.UniqueConstraint(fields=["kind", "year", "sequence"], name="orders_invoice_number_once"),
            models.CheckConstraint(
                condition=models.Q(kind=InvoiceKind.INVOICE, refers_to__isnull=True, refund_reference="")
                | models.Q(kind=InvoiceKind.CREDIT_NOTE, refers_to__isnull=False),
                name="orders_invoice_credit_note_refers",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"
