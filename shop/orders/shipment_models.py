"""Shipments: parcels of an order's lines sent from one warehouse with a carrier's tracking number.

Imported at the end of shop/orders/models.py (so they are the orders app's
models). The database refuses what it can by itself: a quantity below one, a
line twice in one parcel, a tracking number used twice by one carrier, a
delivered parcel without its delivery time. That a line never ships more than
was allocated from the warehouse is the service's rule (under the order's
lock) and a reconciliation check.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shop.shipping.selectors import tracking_url


class Shipment(models.Model):
    """One parcel: some units of some order lines, from one warehouse, with one tracking number."""

    class Status(models.TextChoices):
        SHIPPED = "shipped", _("shipped")
        DELIVERED = "delivered", _("delivered")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    warehouse = models.ForeignKey("catalog.Warehouse", on_delete=models.PROTECT, related_name="+")
    carrier = models.ForeignKey("shipping.Carrier", on_delete=models.PROTECT, related_name="+")
    tracking_number = models.CharField(_("tracking number"), max_length=100)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.SHIPPED)
    shipped_at = models.DateTimeField(_("shipped at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["shipped_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_number"], name="orders_shipment_tracking_unique"),
            models.CheckConstraint(condition=~models.Q(tracking_number=""), name="orders_shipment_tracking_given"),
            models.CheckConstraint(
                condition=models.Q(status="shipped", delivered_at__isnull=True)
                | models.Q(status="delivered", delivered_at__isnull=False),
                name="orders_shipment_delivered_at_with_status",
            ),
        ]

    def __str__(self):
        return f"{self.tracking_number} ({self.order_id})"

    @property
    def tracking_url(self) -> str:
        """The carrier's public page for this parcel."""
        return tracking_url(carrier=self.carrier, tracking_number=self.tracking_number)


class ShipmentLine(models.Model):
    """Units of one order line in a shipment."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("shipped line")
        verbose_name_plural = _("shipped lines")
        ordering = ["shipment_id", "order_line_id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="orders_shipment_line_once"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="orders_shipment_line_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} x line {self.order_line_id}"
