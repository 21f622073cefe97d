"""Reconciliation runs and the discrepancies each one found."""


from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReconciliationRun(models.Model):
    """One check of one day; a re-run for the same day replaces the previous run and its items."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        CLEAN = "clean", _("Clean")
        REPAIRED = "repaired", _("Clean after auto-repair")
        DISCREPANCIES = "discrepancies", _("Discrepancies")
        FAILED = "failed", _("Failed")

    day = models.DateField(_("day"), db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    checked = models.JSONField(_("rows checked"), default=dict, blank=True)
    discrepancy_count = models.PositiveIntegerField(_("discrepancies"), default=0)
    repaired_count = models.PositiveIntegerField(_("auto-repaired"), default=0)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-day", "-id"]

    def __str__(self):
        return f"{self.day} · {self.get_status_display()}"


class ReconciliationItem(models.Model):
    """One discrepancy found by a run: what, which objects, the amounts, what to do, and who resolved it."""

    class Kind(models.TextChoices):
        TRANSACTION_UNBALANCED = "transaction_unbalanced", _("Ledger transaction unbalanced")
        LEDGER_TOTALS = "ledger_totals", _("Total debits differ from total credits")
        WALLET_BALANCE = "wallet_balance", _("Wallet balance differs from its entries")
        GIFT_CARD_BALANCE = "gift_card_balance", _("Gift card balance differs from its entries")
        PROVIDER_REPORT_UNAVAILABLE = "provider_unavailable", _("Provider settlement report unavailable")
        CHARGE_MISSING_HERE = "charge_missing_here", _("Provider charge not succeeded here")
        CHARGE_MISSING_AT_PROVIDER = "charge_missing_at_provider", _("Payment missing at the provider")
        CHARGE_AMOUNT = "charge_amount", _("Charge amount mismatch")
        CHARGE_CURRENCY = "charge_currency", _("Charge currency mismatch")
        CHARGE_STATUS = "charge_status", _("Charge status mismatch")
        CHARGE_SETTLED = "charge_settled", _("Unknown payment settled from the provider's report")
        REFUND_MISSING_HERE = "refund_missing_here", _("Provider refund not succeeded here")
        REFUND_MISSING_AT_PROVIDER = "refund_missing_at_provider", _("Refund missing at the provider")
        REFUND_AMOUNT = "refund_amount", _("Refund amount mismatch")
        REFUND_CURRENCY = "refund_currency", _("Refund currency mismatch")
        REFUND_STATUS = "refund_status", _("Refund status mismatch")
        LATE_REFUND = "late_refund", _("Late-charge refund does not match a failed payment")
        PAYOUT_MISSING_HERE = "payout_missing_here", _("Provider payout not succeeded here")
        PAYOUT_MISSING_AT_PROVIDER = "payout_missing_at_provider", _("Withdrawal missing at the provider")
        PAYOUT_AMOUNT = "payout_amount", _("Payout amount mismatch")
        PAYOUT_CURRENCY = "payout_currency", _("Payout currency mismatch")
        PAYOUT_STATUS = "payout_status", _("Payout status mismatch")
        ORDER_PAYMENT = "order_payment", _("Paid order without matching payments")
        ORDER_PAID_AT_MISSING = "order_paid_at_missing", _("Paid order without a payment time")
        ORDER_COMPONENTS = "order_components", _("Paid order whose price components do not add up")
        PAYMENT_WITHOUT_ORDER = "payment_without_order", _("Succeeded payment without a paid order")
        STOCK_RESERVED = "stock_reserved", _("Reserved stock differs from open reservations")
        STOCK_ON_HAND = "stock_on_hand", _("Stock on hand differs from its movements")
        SHIPPED_OVER_ALLOCATED = "shipped_over_allocated", _("Shipped more than allocated from a warehouse")
        INVOICE_NUMBERING = "invoice_numbering", _("Invoice numbers of a year have a gap or a repeat")
        STOCK_COMMITTED = "stock_committed", _("Committed stock differs from its movements")
        STOCK_COMMITTED_UNSHIPPED = "stock_committed_unshipped", _("Committed stock differs from paid units not shipped")

    class Action(models.TextChoices):
        REVIEW = "review", _("Review")
        INVESTIGATE_LEDGER = "investigate_ledger", _("Investigate; correct with a reversing transaction")
        SETTLE_PAYMENT = "settle_payment", _("Settle the payment from the provider's record")
        REFUND_AT_PROVIDER = "refund_at_provider", _("Refund the charge at the provider")
        CONTACT_PROVIDER = "contact_provider", _("Contact the provider")
        REFUND_OR_ATTACH = "refund_or_attach", _("Refund the payment or attach it to its order")
        STOCKTAKE = "stocktake", _("Count the stock and post an adjustment")
        RETRY = "retry", _("Run the reconciliation again")
        NONE = "none", _("None (repaired automatically)")

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    related = models.CharField(_("related objects"), max_length=255, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    expected = models.DecimalField(_("expected"), max_digits=24, decimal_places=4, null=True, blank=True)
    actual = models.DecimalField(_("actual"), max_digits=24, decimal_places=4, null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    suggested_action = models.CharField(_("suggested action"), max_length=32, choices=Action.choices)
    auto_repaired = models.BooleanField(_("auto-repaired"), default=False)
    resolved = models.BooleanField(_("resolved"), default=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.CharField(_("resolution note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("reconciliation item")
        verbose_name_plural = _("reconciliation items")
        ordering = ["run", "kind", "id"]
        indexes = [models.Index(fields=["run", "resolved"], name="payments_recitem_run_resolved")]
        permissions = [
            ("resolve_reconciliationitem", _("Can resolve reconciliation items")),
            ("refund_payment", _("Can refund payments and orders")),
            ("adjust_wallet", _("Can post wallet adjustments")),
            ("release_payment", _("Can release or refuse payments held for review")),
            ("view_staff_reports", _("Can view the staff dashboard and reports")),
            ("close_wallet", _("Can close wallets")),
            ("retry_payment", _("Can retry stuck card payments now")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.object_type} {self.object_id}"

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes a finding the same finding in a re-run (resolutions carry over by it)."""
        return (self.kind, self.object_type, self.object_id)
