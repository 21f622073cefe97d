"""Review writes: a buyer's one review per product, moderation, the product's rating."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum

from catalog.cache import catalog_cache_invalidate
from catalog.exceptions import AlreadyReviewed, InvalidRating, NotABuyer
from catalog.models import Product, ProductPurchase, Review


def review_create(*, user, product: Product, rating: int, title: str = "", body: str = "") -> Review:
    """Add the buyer's one review of a product and update its rating average and count.

    Takes the product row lock so concurrent reviews compute the aggregate in turn.
    """
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRating(field="rating")
    with transaction.atomic():
        if not ProductPurchase.objects.filter(user=user, product=product).exists():
            raise NotABuyer(field="product")
        Product.objects.select_for_update().filter(pk=product.pk).values_list("pk", flat=True).first()
        if Review.objects.filter(user=user, product=product).exists():
            raise AlreadyReviewed()
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    user=user, product=product, rating=rating, title=title.strip(), body=body.strip()
                )
        except IntegrityError:
            raise AlreadyReviewed()
        product.rating_avg, product.rating_count = _rating_refresh(product_id=product.pk)
        return review


def _rating_refresh(*, product_id: int) -> tuple[Decimal, int]:
    totals = Review.objects.filter(product_id=product_id).aggregate(total=Sum("rating"), count=Count("id"))
    count = totals["count"] or 0
    average = (Decimal(totals["total"] or 0) / count).quantize(Decimal("0.01")) if count else Decimal(0)
    Product.objects.filter(pk=product_id).update(rating_avg=average, rating_count=count)
    catalog_cache_invalidate()
    return average, count


def review_delete(*, review_id: int) -> None:
    """Remove a review (moderation) and recompute its product's rating. Takes the product row lock."""
    with transaction.atomic():
        review = Review.objects.filter(pk=review_id).first()
        if review is None:
            return
        Product.objects.select_for_update().filter(pk=review.product_id).values_list("pk", flat=True).first()
        review.delete()
        _rating_refresh(product_id=review.product_id)
