"""The catalog's part of a personal-data export and erasure (registered in CatalogConfig.ready).

Reviews stay on erasure: their author is shown by the account's name, which
the erasure blanks, so they read "A customer" from then on; cached pages that
showed the name are made stale.
"""

from catalog.cache import catalog_cache_invalidate
from catalog.models import ProductPurchase, Review


def reviews_export(*, user) -> list[dict]:
    """The person's reviews, oldest first."""
    reviews = Review.objects.filter(user=user).select_related("product").order_by("created_at", "id")
    return [
        {"product": review.product.sku, "product_name": review.product.name, "rating": review.rating,
         "title": review.title, "body": review.body, "created_at": review.created_at}
        for review in reviews
    ]


def purchases_export(*, user) -> list[dict]:
    """What the person bought, as the catalog keeps it for reviews and recommendations."""
    return list(
        ProductPurchase.objects.filter(user=user).order_by("id").values("product__sku", "quantity", "reference")
    )


def catalog_erase(*, user) -> dict:
    """Make cached pages that show the person's reviews stale (the author's name is blanked by accounts)."""
    reviews = Review.objects.filter(user=user).count()
    if reviews:
        catalog_cache_invalidate()
    return {"reviews_anonymised": reviews}
