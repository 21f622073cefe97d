"""Writes: wishlist items, back-in-stock alerts (and their one e-mail), review reports and
their moderation."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from catalog.cache import catalog_cache_invalidate
from catalog.engagement.models import HiddenReview, ReviewReport, StockAlert, WishlistItem
from catalog.models import Product, ProductVariant, Review
from catalog.selectors.variants import variant_label
from shop.core.exceptions import CoreErrorCode, ShopError
from shop.core.tasks import task_enqueue_on_commit

logger = logging.getLogger(__name__)


def wishlist_add(*, user, product: Product) -> WishlistItem:
    """Save a product to the shopper's wishlist; saving it again changes nothing."""
    with transaction.atomic():
        item, _created = WishlistItem.objects.get_or_create(user=user, product=product)
        return item


def wishlist_remove(*, user, product: Product) -> bool:
    """Take a product off the shopper's wishlist; whether it was there."""
    with transaction.atomic():
        return WishlistItem.objects.filter(user=user, product=product).delete()[0] > 0


def stock_alert_subscribe(*, product: Product, email: str, user=None, variant: ProductVariant | None = None) -> StockAlert:
    """Ask for one e-mail when the product (or that variant of it) is back; asking again while
    waiting changes nothing. A variant of another product is refused (field "variant")."""
    email = (email or "").strip()
    if not email or "@" not in email:
        raise ShopError(_("Enter the e-mail address to tell."), code=CoreErrorCode.INVALID, field="email")
    if variant is not None and variant.product_id != product.pk:
        raise ShopError(_("Choose a variant of this product."), code=CoreErrorCode.INVALID, field="variant")
    fields = {"user": user if getattr(user, "is_authenticated", False) else None,
              "language": translation.get_language() or ""}
    waiting = {"product": product, "variant": variant, "email__iexact": email, "notified_at__isnull": True}
    try:
        with transaction.atomic():
            alert, _created = StockAlert.objects.get_or_create(**waiting, defaults={"email": email, **fields})
    except IntegrityError:  # a concurrent request asked first
        alert = StockAlert.objects.get(**waiting)
    return alert


def stock_alerts_mark_due(*, product_id: int, variant_id: int | None = None) -> int:
    """Mark due, in the restock's transaction, the product's waiting alerts and those of the restocked
    variant (alerts for its other variants keep waiting); they are e-mailed after it commits. Returns how many."""
    which = Q(variant__isnull=True)
    if variant_id is not None:
        which |= Q(variant_id=variant_id)
    due = StockAlert.objects.filter(
        which, product_id=product_id, notified_at__isnull=True, due_at__isnull=True
    ).update(due_at=timezone.now())
    if due:
        task_enqueue_on_commit("catalog.engagement.tasks.send_stock_alerts", product_id)
    return due


def stock_alerts_send(*, product_id: int) -> int:
    """E-mail every due alert of the product once: each row is claimed (skip locked) and
    stamped sent in the transaction that sends it, so a second run sends nothing."""
    sent = 0
    ids = list(
        StockAlert.objects.filter(product_id=product_id, due_at__isnull=False, notified_at__isnull=True)
        .values_list("pk", flat=True)
    )
    for alert_id in ids:
        with transaction.atomic():
            alert = (
                StockAlert.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("product", "variant")
                .filter(pk=alert_id, notified_at__isnull=True)
                .first()
            )
            if alert is None:
                continue
            _stock_alert_email(alert)
            alert.notified_at = timezone.now()
            alert.save(update_fields=["notified_at"])
            sent += 1
    return sent


def _stock_alert_email(alert: StockAlert) -> None:
    with translation.override(alert.language or settings.LANGUAGE_CODE):
        options = variant_label(alert.variant) if alert.variant is not None else ""
        name = f"{alert.product.name} ({options})" if options else alert.product.name
        context = {"product": alert.product, "name": name, "brand_name": settings.SHOP_NAME,
                   "url": settings.SITE_URL.rstrip("/") + alert.product.get_absolute_url()}
        send_mail(
            subject=_("%(name)s is back in stock") % {"name": name},
            message=render_to_string("engagement/email/back_in_stock.txt", context),
            from_email=None,
            recipient_list=[alert.email],
        )


def review_report(*, user, review: Review, reason: str) -> ReviewReport:
    """A shopper reports a review for staff to look at (once per shopper and review)."""
    reason = (reason or "").strip()
    if not reason:
        raise ShopError(_("Tell us what is wrong with this review."), code=CoreErrorCode.INVALID, field="reason")
    if review.user_id == user.pk:
        raise ShopError(_("You cannot report your own review."), code=CoreErrorCode.INVALID)
    with transaction.atomic():
        report, _created = ReviewReport.objects.get_or_create(
            review=review, reporter=user, defaults={"reason": reason[:500]}
        )
        return report


def review_reports_decide(*, review_id: int, actor, hide: bool, reason: str) -> int:
    """Staff decide on a reported review: hide it (its words; the rating still counts) or keep
    it, with a reason; every open report of it is closed with who, when and why. Returns how many."""
    reason = (reason or "").strip()
    if not reason:
        raise ShopError(_("Give a reason."), code=CoreErrorCode.INVALID, field="reason")
    with transaction.atomic():
        if hide:
            HiddenReview.objects.get_or_create(review_id=review_id, defaults={"reason": reason[:500], "hidden_by": actor})
            catalog_cache_invalidate()  # the product page drops the review's card
        return ReviewReport.objects.filter(review_id=review_id, status=ReviewReport.Status.OPEN).update(
            status=ReviewReport.Status.HIDDEN if hide else ReviewReport.Status.KEPT,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_reason=reason[:500],
        )
