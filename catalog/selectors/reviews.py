"""Review reads: a product's reviews and who may still write one."""

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext

from catalog.engagement.models import HiddenReview
from catalog.models import Product, ProductPurchase, Review, ReviewHelpfulVote

# Most helpful first (votes of signed-in shoppers), then the newest.
REVIEW_ORDER = ("-helpful_count", "-created_at", "-id")


def product_reviews(*, product: Product, limit: int | None = None) -> QuerySet[Review]:
    """The product's reviews with their authors, most helpful then newest first (the first `limit` when given)."""
    qs = (
        Review.objects.filter(product=product)
        .exclude(pk__in=HiddenReview.objects.values("review_id"))
        .select_related("user")
        .order_by(*REVIEW_ORDER)
    )
    return qs[:limit] if limit else qs


def review_get_votable(*, review_id: int) -> Review | None:
    """A review shoppers may vote on: shown on an active product's page (not hidden by staff)."""
    return (
        Review.objects.filter(pk=review_id, product__is_active=True)
        .exclude(pk__in=HiddenReview.objects.values("review_id"))
        .select_related("product")
        .first()
    )


def review_ids_voted(*, user, review_ids) -> set[int]:
    """Which of these reviews `user` has found helpful (one query; empty for a visitor)."""
    if not getattr(user, "is_authenticated", False) or not review_ids:
        return set()
    return set(
        ReviewHelpfulVote.objects.filter(user=user, review_id__in=list(review_ids)).values_list("review_id", flat=True)
    )


def review_allowed(*, user, product: Product) -> bool:
    """Whether `user` may still review `product` (a buyer without a review)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        ProductPurchase.objects.filter(user=user, product=product).exists()
        and not Review.objects.filter(user=user, product=product).exists()
    )


def product_reviews_for_page(*, product: Product, limit: int = 20) -> list[Review]:
    """The product's reviews that have words, most helpful first (helpful votes, then the newest).

    A rating alone counts in the average and the distribution but makes no card.
    """
    return list(
        Review.objects.filter(product=product)
        .exclude(title="", body="")
        .exclude(pk__in=HiddenReview.objects.values("review_id"))  # hidden by staff after a report
        .select_related("user")
        .order_by(*REVIEW_ORDER)[:limit]
    )


def review_summary(*, product: Product) -> dict:
    """Counts per star (5 to 1) and how many ratings came without words, in one query."""
    counts = {
        row["rating"]: row
        for row in Review.objects.filter(product=product)
        .values("rating")
        .annotate(n=Count("id"), silent=Count("id", filter=Q(title="", body="")))
    }
    return {
        "distribution": [{"stars": s, "count": counts.get(s, {}).get("n", 0)} for s in range(5, 0, -1)],
        "rating_only": sum(row["silent"] for row in counts.values()),
    }


def review_refusal(*, user, product: Product) -> str:
    """Why `user` may not review `product` ("" when they may)."""
    if not getattr(user, "is_authenticated", False):
        return gettext("Log in to review a product you bought.")
    if not ProductPurchase.objects.filter(user=user, product=product).exists():
        return gettext("Only shoppers who bought this product can review it, so every review comes from a real purchase.")
    if Review.objects.filter(user=user, product=product).exists():
        return gettext("You have reviewed this product already. Thank you!")
    return ""
