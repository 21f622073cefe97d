"""Orders: what was bought (snapshots), their life cycle (events), returns, and the e-mail outbox."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField

_BASE32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: easy to read out on the phone


def order_number_new() -> str:
    """A human-friendly unique-enough number: SO-YYMMDD-XXXXXX (32^6 per day)."""
    suffix = "".join(secrets.choice(_BASE32) for _ in range(6))
    return f"SO-{timezone.now():%y%m%d}-{suffix}"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("pending payment")
        PAID = "paid", _("paid")
        PARTIALLY_SHIPPED = "partially_shipped", _("partially shipped")
        SHIPPED = "shipped", _("shipped")
        DELIVERED = "delivered", _("delivered")
        CANCELLED = "cancelled", _("cancelled")
        REFUNDED = "refunded", _("refunded")

    class PaymentMethod(models.TextChoices):
        WALLET = "wallet", _("wallet")
        CARD = "card", _("card")

    number = models.CharField(_("number"), max_length=32, unique=True, default=order_number_new)
    # None for a guest's order (identified by `email`); set when the guest signs up and verifies that e-mail.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT)
    currency = models.CharField(_("currency"), max_length=3)
    total = MoneyField(_("total"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    refunded_total = MoneyField(
        _("refunded"), max_digits=14, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY
    )
    # What the pricing pipeline made of the order when it was placed (docs/pricing.md); kept, never re-priced:
    # total = subtotal - discount_total + shipping_price (+ tax_total when prices are net) - gift_card_total.
    subtotal = MoneyField(_("subtotal"), max_digits=14, decimal_places=2, default=0,
                          default_currency=settings.DEFAULT_CURRENCY)
    discount_total = MoneyField(_("discounts"), max_digits=14, decimal_places=2, default=0,
                                default_currency=settings.DEFAULT_CURRENCY)
    voucher_discount = MoneyField(_("voucher discount"), max_digits=14, decimal_places=2, default=0,
                                  default_currency=settings.DEFAULT_CURRENCY, help_text=_("part of the discounts"))
    shipping_price = MoneyField(_("shipping"), max_digits=14, decimal_places=2, default=0,
                                default_currency=settings.DEFAULT_CURRENCY, help_text=_("before a free-shipping voucher"))
    shipping_tax = MoneyField(_("tax on shipping"), max_digits=14, decimal_places=2, default=0,
                              default_currency=settings.DEFAULT_CURRENCY)
    tax_total = MoneyField(_("tax"), max_digits=14, decimal_places=2, default=0,
                           default_currency=settings.DEFAULT_CURRENCY)
    gift_card_total = MoneyField(_("paid by gift card"), max_digits=14, decimal_places=2, default=0,
                                 default_currency=settings.DEFAULT_CURRENCY)
    voucher_code = models.CharField(_("voucher"), max_length=64, blank=True)
    prices_include_tax = models.BooleanField(_("prices include tax"), default=True)
    # [{"rate": "19.00", "net": "32.06", "tax": "6.09", "gross": "38.15"}], highest rate first; shipping included.
    tax_summary = models.JSONField(_("tax summary"), default=list, blank=True)
    # The chosen method as quoted (shop.shipping.selectors.shipping_quote_snapshot); {} for older orders.
    shipping = models.JSONField(_("shipping method"), default=dict, blank=True)
    payment_method = models.CharField(_("payment method"), max_length=10, choices=PaymentMethod.choices)
    payment_id = models.BigIntegerField(_("payment"), null=True, blank=True, help_text=_("payments.Payment id"))
    shipping_address = models.JSONField(_("shipping address"), default=dict)
    email = models.EmailField(_("e-mail"), blank=True)
    reservation_expires_at = models.DateTimeField(_("reservation expires at"), null=True, blank=True)
    # A page's one-time checkout token: a double click cannot make two orders.
    checkout_token = models.CharField(max_length=64, blank=True, default="")
    cancel_reason = models.CharField(_("cancellation reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("placed at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="orders_user_created_idx"),
            models.Index(fields=["status", "reservation_expires_at"], name="orders_status_expiry_idx"),
            # Sales reports and the nightly reconciliation read the orders paid on a day.
            models.Index(fields=["paid_at"], name="orders_paid_at_idx"),
            # Attaching a guest's past orders when the e-mail is verified.
            models.Index(fields=["email"], condition=models.Q(user__isnull=True), name="orders_guest_email_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "checkout_token"],
                condition=~models.Q(checkout_token=""),
                name="orders_one_order_per_checkout_token",
            ),
            # A guest has no user: NULLs never collide, so guests' tokens get their own uniqueness.
            models.UniqueConstraint(
                fields=["checkout_token"],
                condition=models.Q(user__isnull=True) & ~models.Q(checkout_token=""),
                name="orders_one_guest_order_per_checkout_token",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def is_cancellable(self) -> bool:
        return self.status == self.Status.PENDING_PAYMENT

    @property
    def is_returnable(self) -> bool:
        # Only what was shipped comes back; an unshipped order is refunded or its rest cancelled instead.
        return self.status in {self.Status.PARTIALLY_SHIPPED, self.Status.SHIPPED, self.Status.DELIVERED}


class OrderLine(models.Model):
    """A snapshot of one bought product: later catalog changes do not alter it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.SET_NULL, null=True, related_name="+")
    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.SET_NULL, null=True, related_name="+")
    sku = models.CharField(_("SKU"), max_length=64)
    # The variant's options when bought ({"size": "M"}): a snapshot like sku and name.
    options = models.JSONField(_("options"), default=dict, blank=True)
    name = models.CharField(_("name"), max_length=255)
    unit_price = MoneyField(_("unit price"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    quantity = models.PositiveIntegerField(_("quantity"))
    refunded_quantity = models.PositiveIntegerField(_("refunded quantity"), default=0)
    # The line as priced (docs/pricing.md): discount = promotion + voucher share; gross = net + tax.
    discount = MoneyField(_("discount"), max_digits=14, decimal_places=2, default=0,
                          default_currency=settings.DEFAULT_CURRENCY)
    net = MoneyField(_("net"), max_digits=14, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=6, decimal_places=3, default=0)
    tax = MoneyField(_("tax"), max_digits=14, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY)
    gross = MoneyField(_("gross"), max_digits=14, decimal_places=2, default=0,
                       default_currency=settings.DEFAULT_CURRENCY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="orders_line_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(refunded_quantity__lte=models.F("quantity")),
                name="orders_line_refund_within_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity

    @property
    def returnable_quantity(self) -> int:
        return self.quantity - self.refunded_quantity


class OrderLineAllocation(models.Model):
    """Units of an order line reserved (then sold) from one warehouse: what a cancel or refund gives back."""

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="allocations")
    warehouse = models.ForeignKey("catalog.Warehouse", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["line_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(fields=["line", "warehouse"], name="orders_allocation_one_per_warehouse"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="orders_allocation_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} x line {self.line_id} from {self.warehouse_id}"


class OrderEvent(models.Model):
    """Append-only audit trail: who moved the order from what to what, when and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20)
    reason = models.CharField(_("why"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.order_id}: {self.from_status or '-'} -> {self.to_status}"

    @property
    def from_label(self) -> str:
        """The translated name of the state the order left."""
        return _status_label(self.from_status)

    @property
    def to_label(self) -> str:
        """The translated name of the state the order entered."""
        return _status_label(self.to_status)


def _status_label(value: str) -> str:
    try:
        return Order.Status(value).label
    except ValueError:  # not an order state (e.g. an event about a return)
        return value.replace("_", " ")


class ReturnRequest(models.Model):
    """A shopper asks to send lines back; staff approve (refund) or reject."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(_("reason"), max_length=500)
    refund_amount = MoneyField(
        _("refund"), max_digits=14, decimal_places=2, null=True, blank=True, default_currency=settings.DEFAULT_CURRENCY
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("return request")
        verbose_name_plural = _("return requests")
        ordering = ["-created_at"]

    def __str__(self):
        return f"return {self.pk} of {self.order_id}"


class ReturnLine(models.Model):
    return_request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("returned line")
        verbose_name_plural = _("returned lines")
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="orders_return_line_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} x line {self.order_line_id}"


class OutboxEmail(models.Model):
    """An e-mail to send, written in the transaction of the change it tells about.

    `key` is unique: writing the same e-mail twice is a no-op; a drained row
    has `sent_at` and is never sent again.
    """

    class Kind(models.TextChoices):
        ORDER_PLACED = "order_placed", _("order placed")
        ORDER_PAID = "order_paid", _("order paid")
        ORDER_SHIPPED = "order_shipped", _("order shipped")
        PAYMENT_FAILED = "payment_failed", _("payment failed")
        ORDER_REFUNDED = "order_refunded", _("order refunded")
        GIFT_CARD_ISSUED = "gift_card_issued", _("gift card issued")

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    recipient = models.EmailField()
    language = models.CharField(max_length=8, blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="orders_outbox_unsent_idx"),
        ]

    def __str__(self):
        return self.key


from shop.orders.gift_card_models import OrderGiftCard, OrderGiftCardRefund  # noqa: E402, F401 (the app's models)
from shop.orders.invoice_models import Invoice, InvoiceKind, InvoiceSequence  # noqa: E402, F401 (the app's models)
from shop.orders.shipment_models import Shipment, ShipmentLine  # noqa: E402, F401 (the app's models)
