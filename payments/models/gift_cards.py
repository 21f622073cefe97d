"""Gift cards: a bearer balance that lives on the ledger as the shop's liability, one account per card.

The card's value is its ledger account's balance (entries signed from the
account's point of view, as for wallets: positive is what the shop owes the
bearer). `balance` is the cached sum of those entries, changed only by
payments.services.ledger.ledger_post with a guarded UPDATE, and never below
zero (CHECK constraint). The code itself is never stored: only its SHA-256
(to find the card) and its last four characters (to show it).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.models.ledger import AMOUNT_DIGITS, AMOUNT_PLACES, LedgerAccount


class GiftCard(models.Model):
    class Source(models.TextChoices):
        STAFF = "staff", _("Issued by staff")
        PURCHASE = "purchase", _("Bought by a shopper")

    code_hash = models.CharField(_("code (SHA-256)"), max_length=64, unique=True, editable=False)
    last4 = models.CharField(_("last four characters"), max_length=4, editable=False)
    currency = models.CharField(_("currency"), max_length=3, editable=False)
    account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="gift_card", editable=False
    )
    # Cached sum of the account's entries; changed only by payments.services.ledger.ledger_post.
    balance = models.DecimalField(
        _("balance"),
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        default=Decimal("0"),
        editable=False,
    )
    initial_amount = models.DecimalField(
        _("initial value"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, editable=False
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, editable=False)
    # What issued it (a staff action's or an order line's reference): issuing is idempotent per reference.
    issue_reference = models.CharField(_("issue reference"), max_length=120, unique=True, editable=False)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)

    class Meta:
        verbose_name = _("gift card")
        verbose_name_plural = _("gift cards")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="payments_giftcard_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(initial_amount__gt=0), name="payments_giftcard_initial_positive"
            ),
        ]

    def __str__(self):
        return f"···{self.last4} · {self.currency}"

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency)

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.is_active and (self.expires_at is None or self.expires_at > now)
