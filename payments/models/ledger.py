"""Ledger, wallets, payments and the records that make money movements safe to repeat.

Ledger sign convention: an entry's amount is signed from its account's point
of view. Money moving from account A to account B is written as `-x` on A and
`+x` on B, so every transaction sums to zero per currency, and an account's
balance is the sum of its entries. A customer wallet's balance is therefore
never negative; system accounts may be (provider clearing at -100 means the
provider holds 100 that it owes the shop).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

AMOUNT_DIGITS = 18
AMOUNT_PLACES = 2


class LedgerAccount(models.Model):
    """One account per (owner, purpose, currency); system accounts have no owner; one per gift card."""

    class Purpose(models.TextChoices):
        CUSTOMER_WALLET = "customer_wallet", _("Customer wallet")
        SHOP_REVENUE = "shop_revenue", _("Shop revenue")
        PROVIDER_CLEARING = "provider_clearing", _("Payment-provider clearing")
        REFUNDS_PAYABLE = "refunds_payable", _("Refunds payable")
        # One account per gift card (no owner): its balance is what the shop owes the card's bearer.
        GIFT_CARD = "gift_card", _("Gift card")
        # Where the value of gift cards staff give away comes from (a promotional expense).
        GIFT_CARD_FUNDING = "gift_card_funding", _("Gift cards issued by staff")

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
                condition=Q(user__isnull=True) & ~Q(purpose="gift_card"),
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
