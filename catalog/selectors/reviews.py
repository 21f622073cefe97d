"""Review reads: a product's reviews and who may still write one."""

from django.db.models import QuerySet

from catalog.models import Product, ProductPurchase, Review


def product_reviews(*, product: Product, limit: int | None = None) -> QuerySet[Review]:
    """The product's reviews with their authors, newest first (the first `limit` when given)."""
    qs = Review.objects.filter(product=product).select_related("user").order_by("-created_at", "-id")
    return qs[:limit] if limit else qs


def review_allowed(*, user, product: Product) -> bool:
    """Whether `user` may still review `product` (a buyer without a review)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        ProductPurchase.objects.filter(user=user, product=product).exists()
        and not Review.objects.filter(user=user, product=product).exists()
    )
