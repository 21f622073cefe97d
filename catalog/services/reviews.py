"""Review writes: a buyer's one review per product, moderation, the product's rating, helpful votes."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum

from catalog.cache import catalog_cache_invalidate, stock_cache_invalidate
from catalog.exceptions import AlreadyReviewed, InvalidRating, NotABuyer, OwnReviewVote
from catalog.models import Product, ProductPurchase, Review, ReviewHelpfulVote


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


def review_helpful_vote(*, user, review: Review) -> Review:
    """Record that `user` found `review` helpful (once; a repeat changes nothing) and return the review.

    The vote row and the cached `helpful_count` change together; the count moves with a guarded F() update.
    """
    if review.user_id == user.pk:
        raise OwnReviewVote()
    with transaction.atomic():
        try:
            with transaction.atomic():
                ReviewHelpfulVote.objects.create(review=review, user=user)
        except IntegrityError:
            pass  # voted already: one vote per shopper
        else:
            Review.objects.filter(pk=review.pk).update(helpful_count=F("helpful_count") + 1)
            _review_pages_stale(review)
    review.refresh_from_db(fields=["helpful_count"])
    return review


def review_helpful_unvote(*, user, review: Review) -> Review:
    """Take back `user`'s helpful vote on `review` (nothing when there is none) and return the review."""
    with transaction.atomic():
        deleted, _rows = ReviewHelpfulVote.objects.filter(review=review, user=user).delete()
        if deleted:
            Review.objects.filter(pk=review.pk, helpful_count__gt=0).update(helpful_count=F("helpful_count") - 1)
            _review_pages_stale(review)
    review.refresh_from_db(fields=["helpful_count"])
    return review


def review_helpful_toggle(*, user, review: Review) -> bool:
    """The page's one button: vote when `user` has not, take the vote back when they have. True when voted now."""
    if ReviewHelpfulVote.objects.filter(review=review, user=user).exists():
        review_helpful_unvote(user=user, review=review)
        return False
    review_helpful_vote(user=user, review=review)
    return True


def _review_pages_stale(review: Review) -> None:
    # A vote changes one product's review order, nothing else in the catalogue: renewing that
    # product's token (catalog.cache) re-renders only the cached pages that show it.
    stock_cache_invalidate([review.product_id])
