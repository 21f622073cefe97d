"""A signed-in shopper's persistent cart. Guests keep theirs in the session (see storage.py)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField


class Cart(models.Model):
    """One cart per user; its lines survive logouts and devices."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart")
    # The voucher the shopper applied; checked again (and redeemed) at checkout.
    voucher_code = models.CharField(_("voucher"), max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")

    def __str__(self):
        return f"cart of {self.user}"


class CartLine(models.Model):
    """A variant of a product and a quantity in a cart, with the price seen when it was added."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    # What is bought; `product` is its product, kept beside it for the product-keyed reads.
    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    # The product's own price (its base currency) when last added or changed,
    # so the cart can tell the shopper when the price moved since.
    price_seen = MoneyField(_("price seen"), max_digits=14, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cart_line_one_per_variant"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="cart_line_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} x variant {self.variant_id}"


class CartGiftCard(models.Model):
    """A gift card the shopper applied to the cart by its code; spent at checkout. The code itself is never kept."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="gift_cards")
    gift_card = models.ForeignKey("payments.GiftCard", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("gift card on a cart")
        verbose_name_plural = _("gift cards on carts")
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["cart", "gift_card"], name="cart_giftcard_once")]

    def __str__(self):
        return f"gift card {self.gift_card_id} on cart {self.cart_id}"
