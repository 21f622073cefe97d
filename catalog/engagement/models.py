"""Wishlists, back-in-stock alerts and review reports (their own app: the catalogue's
tables stay as they are)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Product, ProductVariant, Review


class WishlistItem(models.Model):
    """A product a signed-in shopper saved for later."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("shopper"), on_delete=models.CASCADE, related_name="wishlist"
    )
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("wishlist item")
        verbose_name_plural = _("wishlist items")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "product"], name="engagement_wishlist_once")]

    def __str__(self):
        return f"{self.user_id}: {self.product_id}"


class StockAlert(models.Model):
    """"Tell me when it is back": one e-mail to `email` when the product is restocked, once.

    With a `variant` ("size M in red"), only a restock of that variant (in any warehouse)
    makes it due; without one, a restock of any variant of the product does.

    The row is its own outbox: a restock marks it due in the restock's transaction, and
    the sender claims it (skip locked) and stamps `notified_at` in the transaction that
    sends, so it is never sent twice.
    """

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(
        ProductVariant, verbose_name=_("variant"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    email = models.EmailField(_("e-mail"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("shopper"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="stock_alerts",
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    created_at = models.DateTimeField(_("asked at"), auto_now_add=True)
    due_at = models.DateTimeField(_("restocked at"), null=True, blank=True)
    notified_at = models.DateTimeField(_("e-mailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("back-in-stock alert")
        verbose_name_plural = _("back-in-stock alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "email"],
                condition=Q(notified_at__isnull=True, variant__isnull=True),
                name="engagement_alert_open_once",
            ),
            models.UniqueConstraint(
                fields=["variant", "email"],
                condition=Q(notified_at__isnull=True, variant__isnull=False),
                name="engagement_variant_alert_open_once",
            ),
        ]

    def __str__(self):
        return f"{self.email}: {self.product_id}" + (f"/{self.variant_id}" if self.variant_id else "")


class ReviewReport(models.Model):
    """A shopper's report of a review; staff hide the review or keep it, with a reason."""

    class Status(models.TextChoices):
        OPEN = "open", _("waiting for staff")
        HIDDEN = "hidden", _("review hidden")
        KEPT = "kept", _("review kept")

    review = models.ForeignKey(Review, verbose_name=_("review"), on_delete=models.CASCADE, related_name="+")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reported by"), on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=500)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("why"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("review report")
        verbose_name_plural = _("review reports")
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["review", "reporter"], name="engagement_report_once")]

    def __str__(self):
        return f"report {self.pk} of review {self.review_id}"


class HiddenReview(models.Model):
    """A review staff hid after a report: its rating still counts, its words are not shown."""

    review = models.OneToOneField(Review, verbose_name=_("review"), on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("why"), max_length=500)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("hidden by"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    hidden_at = models.DateTimeField(_("hidden at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hidden review")
        verbose_name_plural = _("hidden reviews")

    def __str__(self):
        return f"review {self.review_id}"
