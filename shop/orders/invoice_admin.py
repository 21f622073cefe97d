"""Invoices and credit notes in admin: read-only, each with its PDF; the order's page lists its documents.

Issued documents are never added, changed or deleted here (or anywhere):
a mistake is corrected by a credit note, issued by a refund.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from shop.orders.invoice_models import Invoice
from shop.orders.views import invoice_pdf_response


def _download_link(invoice: Invoice) -> str:
    if invoice.pk is None:
        return "-"
    return format_html(
        '<a href="{}" download>{}</a>', reverse("admin:orders_invoice_pdf", args=[invoice.pk]), _("PDF")
    )


class InvoiceInline(admin.TabularInline):
    """The order's invoice and credit notes, each with its download link."""

    model = Invoice
    fk_name = "order"
    extra = 0
    can_delete = False
    fields = ("number", "kind", "issued_at", "total", "refund_reference", "download")
    readonly_fields = fields
    verbose_name = _("document")
    verbose_name_plural = _("invoices and credit notes")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("document", "pdf")

    @admin.display(description=_("download"))
    def download(self, invoice):
        return _download_link(invoice)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "order", "kind", "total", "issued_at", "download")
    list_filter = ("kind", "year", ("issued_at", admin.DateFieldListFilter))
    search_fields = ("number", "order__number", "order__user__email")
    list_select_related = ("order",)
    date_hierarchy = "issued_at"
    fields = ("number", "kind", "order", "refers_to", "refund_reference", "issued_at",
              "net_total", "tax_total", "total", "document", "download")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("download"))
    def download(self, invoice):
        return _download_link(invoice)

    def get_urls(self):
        pdf = self.admin_site.admin_view(self.pdf_view)
        return [path("<int:invoice_id>/pdf/", pdf, name="orders_invoice_pdf"), *super().get_urls()]

    def pdf_view(self, request, invoice_id: int):
        """The document's PDF, for staff who may view invoices."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return invoice_pdf_response(get_object_or_404(Invoice, pk=invoice_id))
