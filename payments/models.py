"""Ledger, wallets, payments and the records that make money movements safe to repeat.

Ledger sign convention: an entry's amount is signed from its account's point
of view. Money moving from account A to account B is written as `-x` on A and
`+x` on B, so every transaction sums to zero per currency, and an account's
balance is the sum of its entries. A customer wallet's balance is therefore
never negative; system accounts may be (provider clearing at -100 means the
provider holds 100 that it owes the shop).
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from djmoney.money import Money

AMOUNT_DIGITS = 18
AMOUNT_PLACES = 2


class LedgerAccount(models.Model):
    """One account per (owner, purpose, currency); system accounts have no owner."""

    class Purpose(models.TextChoices):
        CUSTOMER_WALLET = "customer_wallet", _("Customer wallet")
        SHOP_REVENUE = "shop_revenue", _("Shop revenue")
        PROVIDER_CLEARING = "provider_clearing", _("Payment-provider clearing")
        REFUNDS_PAYABLE = "refunds_payable", _("Refunds payable")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    purpose = models.CharField(_("purpose"), max_length=32, choices=Purpose.choices)
    currency = models.CharField(_("currency"), max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "currency"],
                condition=Q(user__isnull=True),
                name="payments_ledgeraccount_one_system_account",
            ),
            models.UniqueConstraint(
                fields=["user", "purpose", "currency"],
                condition=Q(user__isnull=False),
                name="payments_ledgeraccount_one_user_account",
            ),
        ]

    def __str__(self):
        owner = self.user.email if self.user_id else _("shop")
        return f"{owner} · {self.get_purpose_display()} · {self.currency}"


class LedgerTransaction(models.Model):
    """One business event; the unique reference makes posting it idempotent."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", _("Deposit")
        WITHDRAWAL = "withdrawal", _("Withdrawal")
        PURCHASE = "purchase", _("Purchase")
        REFUND = "refund", _("Refund")
        REVERSAL = "reversal", _("Reversal")
        ADJUSTMENT = "adjustment", _("Adjustment")

    reference = models.CharField(_("reference"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.reference


class LedgerEntry(models.Model):
    """One signed leg of a transaction; never updated or deleted."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(_("currency"), max_length=3)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "transaction"], name="payments_le_account_tx")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="payments_ledgerentry_nonzero")]

    def __str__(self):
        return f"{self.transaction_id}: {self.amount} {self.currency} on {self.account_id}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class Wallet(models.Model):
    """A customer's stored balance in one currency, backed by a ledger account."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallets")
    currency = models.CharField(_("currency"), max_length=3)
    account = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, related_name="wallet")
    # Cached sum of the account's entries; changed only by payments.services.ledger_post.
    balance = models.DecimalField(
        _("balance"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=Decimal("0")
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["user", "currency"], name="payments_wallet_one_per_currency"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="payments_wallet_balance_not_negative"),
        ]

    def __str__(self):
        return f"{self.user} · {self.currency}"

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


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
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
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


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key: the request it stood for and the answer it got."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("key"), max_length=255)
    scope = models.CharField(_("scope"), max_length=64)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    # The running request's claim: who holds it and until when (a dead worker's claim expires).
    lease_token = models.CharField(_("lease token"), max_length=32, blank=True)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    # The object the request created (e.g. "payments.payment", 42), recorded as soon as it exists.
    resource_type = models.CharField(_("created object type"), max_length=64, blank=True)
    resource_id = models.CharField(_("created object id"), max_length=64, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="payments_idempotencykey_user_key")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class WebhookEvent(models.Model):
    """A provider event received once; its id deduplicates redeliveries."""

    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"))
    result = models.CharField(_("result"), max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.event_id} {self.type}"


# --- reconciliation, fraud rules, audit (staff operations) ------------------------------


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
        PAYMENT_WITHOUT_ORDER = "payment_without_order", _("Succeeded payment without a paid order")
        STOCK_RESERVED = "stock_reserved", _("Reserved stock differs from open reservations")
        STOCK_ON_HAND = "stock_on_hand", _("Stock on hand differs from its movements")

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


class FraudRule(models.Model):
    """A velocity limit on card payments per user or per card token within a time window."""

    class Scope(models.TextChoices):
        USER = "user", _("User")
        TOKEN = "token", _("Card token")

    class Verdict(models.TextChoices):
        REFUSE = "refuse", _("Refuse")
        HOLD = "hold", _("Hold for review")

    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices, default=Scope.USER)
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=60)
    max_attempts = models.PositiveIntegerField(
        _("max attempts"), null=True, blank=True,
        help_text=_("More card payments than this in the window (this one included) trigger the rule."),
    )
    max_declines = models.PositiveIntegerField(
        _("max declines"), null=True, blank=True,
        help_text=_("Once this many payments were declined in the window, further ones trigger the rule."),
    )
    action = models.CharField(_("action"), max_length=8, choices=Verdict.choices, default=Verdict.REFUSE)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("fraud rule")
        verbose_name_plural = _("fraud rules")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_attempts__isnull=False) | Q(max_declines__isnull=False),
                name="payments_fraudrule_has_a_limit",
            ),
            models.CheckConstraint(condition=Q(window_minutes__gt=0), name="payments_fraudrule_window_positive"),
        ]

    def __str__(self):
        return self.name


class PaymentHold(models.Model):
    """A card payment kept pending for staff review by a fraud rule; released or refused once."""

    class Status(models.TextChoices):
        HELD = "held", _("Held for review")
        RELEASED = "released", _("Released")
        REFUSED = "refused", _("Refused")

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="hold")
    rule = models.ForeignKey(FraudRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="holds")
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("held payment")
        verbose_name_plural = _("held payments")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.payment_id} · {self.get_status_display()}"


class PaymentScreening(models.Model):
    """The fraud rules' verdict on one card payment, written under the per-user/per-token screening lock.

    A `pass` whose payment has no final outcome yet is an attempt in flight:
    the next screening of the same user or token counts it as a possible
    decline, so concurrent payments cannot all slip under a declines limit.
    """

    class Verdict(models.TextChoices):
        PASS = "pass", _("Passed")
        HOLD = "hold", _("Held for review")
        REFUSE = "refuse", _("Refused")

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, related_name="screening")
    verdict = models.CharField(_("verdict"), max_length=8, choices=Verdict.choices)
    rule = models.ForeignKey(FraudRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment screening")
        verbose_name_plural = _("payment screenings")

    def __str__(self):
        return f"{self.payment_id} · {self.get_verdict_display()}"


class AuditLog(models.Model):
    """Append-only record of a staff action on money or orders: who, when, what, why."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="payments_audit_object")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_id or '-'} {self.action} {self.object_type} {self.object_id}"
