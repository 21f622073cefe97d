"""Reads: a shopper's wishlist (with what is back), hidden reviews, the moderation queue."""

from django.db.models import Count, QuerySet

from catalog.engagement.models import HiddenReview, ReviewReport, StockAlert, WishlistItem
from catalog.models import Product
from catalog.selectors.stock import AVAILABLE_ATTR, products_available


def wishlist_for_user(*, user) -> list[WishlistItem]:
    """The shopper's saved products, newest first; `item.back` says a product they were waiting
    for is in stock again (their alert was sent)."""
    items = list(
        WishlistItem.objects.filter(user=user, product__is_active=True)
        .select_related("product__category")
        .defer("product__search_vector", "product__description")
    )
    alerted = set(
        StockAlert.objects.filter(user=user, notified_at__isnull=False, product_id__in=[i.product_id for i in items])
        .values_list("product_id", flat=True)
    )
    available = products_available([item.product_id for item in items])  # one query for the whole list
    for item in items:
        item.back = item.product_id in alerted
        setattr(item.product, AVAILABLE_ATTR, available.get(item.product_id, 0))
    return items


def wishlist_has(*, user, product_id: int) -> bool:
    """Whether the shopper saved this product (no query for a guest)."""
    return getattr(user, "is_authenticated", False) and WishlistItem.objects.filter(
        user=user, product_id=product_id
    ).exists()


def stock_alert_waiting(*, product: Product, email: str) -> bool:
    """Whether `email` already waits for this product to be back."""
    return bool(email) and StockAlert.objects.filter(product=product, email__iexact=email, notified_at__isnull=True).exists()


def hidden_review_ids(*, product: Product) -> set[int]:
    """Reviews of the product staff hid (their words are not shown)."""
    return set(HiddenReview.objects.filter(review__product=product).values_list("review_id", flat=True))


def review_reports_open() -> QuerySet:
    """Reported reviews waiting for staff, the most reported first."""
    return (
        ReviewReport.objects.filter(status=ReviewReport.Status.OPEN)
        .values("review_id")
        .annotate(reports=Count("id"))
        .order_by("-reports", "review_id")
    )
