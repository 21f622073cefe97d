"""Pay-ins and pay-outs: payments, their append-only provider attempts, refunds and withdrawals."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from djmoney.money import Money

from payments.models.ledger import AMOUNT_DIGITS, AMOUNT_PLACES, Wallet


class Payment(models.Model):
    """The pay-in for one order or one wallet deposit, in one currency, by one method."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Unknown")
        REFUNDED = "refunded", _("Refunded")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")

    class Purpose(models.TextChoices):
        ORDER = "order", _("Order")
        WALLET_DEPOSIT = "wallet_deposit", _("Wallet deposit")

    class Method(models.TextChoices):
        WALLET = "wallet", _("Wallet")
        CARD = "card", _("Card")

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.REFUNDED, Status.PARTIALLY_REFUNDED)
    OPEN_STATUSES = (Status.PROCESSING, Status.UNKNOWN)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # None for a guest's card payment of an order (a wallet payment or deposit always has a user).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments", null=True, blank=True
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    reference = models.CharField(_("reference"), max_length=64, db_index=True)
    wallet = models.ForeignKey(Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(_("method"), max_length=8, choices=Method.choices)
    amount = MoneyField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    refunded_amount = models.DecimalField(
        _("refunded"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal("0")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    card_token = models.CharField(_("card token"), max_length=64, blank=True)
    provider_key = models.CharField(_("provider idempotency key"), max_length=64, unique=True)
    provider_charge_id = models.CharField(_("provider charge"), max_length=64, blank=True, db_index=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_retry_at = models.DateTimeField(_("next retry at"), null=True, blank=True)
    last_error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    # A failed wallet deposit: when the shopper was told (by the synchronous answer, or by the e-mail
    # that payments.services.payment_failure_notify sends once). Orders tell their own shoppers.
    failure_notified_at = models.DateTimeField(_("failure notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_retry_at"], name="payments_payment_retry_idx"),
            # The nightly reconciliation reads the payments settled on a day.
            models.Index(fields=["settled_at"], name="payments_payment_settled_idx"),
            models.Index(
                fields=["id"],
                condition=Q(status="failed", purpose="wallet_deposit", failure_notified_at__isnull=True),
                name="payments_payment_unnotified",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("amount")),
                name="payments_payment_refund_within_amount",
            ),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} {self.reference} · {self.amount} · {self.get_status_display()}"

    @property
    def ledger_reference(self) -> str:
        return f"payment:{self.uid}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def refundable(self) -> Money:
        return Money(self.amount.amount - self.refunded_amount, self.amount.currency.code)


class PaymentAttempt(models.Model):
    """One call to the provider for a payment, refund or payout; append-only."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("Charge")
        LOOKUP = "lookup", _("Lookup")
        REFUND = "refund", _("Refund")
        PAYOUT = "payout", _("Payout")

    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="attempts")
    withdrawal = models.ForeignKey(
        "Withdrawal", null=True, blank=True, on_delete=models.PROTECT, related_name="attempts"
    )
    refund = models.ForeignKey("Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="attempts")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    outcome = models.CharField(_("outcome"), max_length=16)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    request = models.JSONField(_("request"), default=dict)
    response = models.JSONField(_("response"), default=dict)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment attempt")
        verbose_name_plural = _("payment attempts")
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind} {self.outcome} ({self.latency_ms} ms)"


class Refund(models.Model):
    """Money back the way it came for (part of) a payment; idempotent per reference."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund")
        # The provider charged a payment that had already failed here: the charge goes back in full.
        LATE_CHARGE = "late_charge", _("Late charge returned")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.REFUND)
    amount = MoneyField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    reference = models.CharField(_("reference"), max_length=120, unique=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    provider_refund_id = models.CharField(_("provider refund"), max_length=64, blank=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_retry_at = models.DateTimeField(_("next retry at"), null=True, blank=True)
    last_error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payments_refund_amount_positive")]

    def __str__(self):
        return f"{self.reference} · {self.amount}"

    @property
    def provider_key(self) -> str:
        return f"refund-{self.uid}"

    @property
    def ledger_reference(self) -> str:
        return f"refund:{self.reference}"


class Withdrawal(models.Model):
    """Money from a wallet back to a card: the wallet is debited first, then paid out."""

    class Status(models.TextChoices):
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="withdrawals")
    amount = MoneyField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    card_token = models.CharField(_("card token"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROCESSING)
    provider_payout_id = models.CharField(_("provider payout"), max_length=64, blank=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_retry_at = models.DateTimeField(_("next retry at"), null=True, blank=True)
    last_error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_withdrawal_amount_positive")
        ]

    def __str__(self):
        return f"{self.wallet} · {self.amount} · {self.get_status_display()}"

    @property
    def provider_key(self) -> str:
        return f"payout-{self.uid}"

    @property
    def ledger_reference(self) -> str:
        return f"withdrawal:{self.uid}"
