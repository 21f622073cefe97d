"""The gift cards an order was paid with, and what each got back.

Imported at the end of shop/orders/models.py, so the models belong to the
orders app and its migrations.

The money itself lives on the ledger (payments.services.gift_cards): a use
row is written in the same transaction as the card's spend posting
(`giftcard:<card>:spend:<order number>`), and a refund row in the same
transaction as its refund posting (`giftcard:<card>:refund:<order number>:<reference>`),
so the rows and the ledger agree; reconciliation checks that the uses add up
to the order's `gift_card_total`.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField


class OrderGiftCard(models.Model):
    """One gift card that paid part of an order: which card (its last four characters) and how much."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="gift_card_uses")
    gift_card = models.ForeignKey("payments.GiftCard", on_delete=models.PROTECT, related_name="+")
    last4 = models.CharField(_("last four characters"), max_length=4)
    amount = MoneyField(
        _("amount"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # What went back to the card (refunds, cancellation); never more than `amount`.
    refunded = MoneyField(
        _("refunded"), max_digits=14, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("gift card used")
        verbose_name_plural = _("gift cards used")
        ordering = ["order", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "gift_card"], name="orders_giftcard_once_per_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="orders_giftcard_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=F("amount")),
                name="orders_giftcard_refund_within_amount",
            ),
        ]

    def __str__(self):
        return f"···{self.last4}: {self.amount}"

    @property
    def refundable(self):
        return self.amount - self.refunded


class OrderGiftCardRefund(models.Model):
    """Money given back to one card of an order under one refund reference (`<number>-refund`, `...-return-3`, `cancel`)."""

    use = models.ForeignKey(OrderGiftCard, on_delete=models.CASCADE, related_name="refunds")
    reference = models.CharField(_("reference"), max_length=80)
    amount = MoneyField(
        _("amount"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("gift card refund")
        verbose_name_plural = _("gift card refunds")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["use", "reference"], name="orders_giftcard_refund_once_per_reference"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="orders_giftcard_refund_positive"),
        ]

    def __str__(self):
        return f"{self.reference}: {self.amount}"
