"""Recommendations: new products, bought together, picked for a shopper."""

from catalog.models import BoughtTogether, Product, ProductPurchase
from catalog.selectors.products import LIST_DEFERRED, products_by_ids
from catalog.selectors.stock import with_available


def products_new(*, limit: int = 8) -> list[Product]:
    """The newest active products, with category and stock."""
    return list(
        with_available(Product.objects.filter(is_active=True))
        .select_related("category")
        .defer(*LIST_DEFERRED)
        .order_by("-created_at", "-id")[:limit]
    )


def products_bought_together(*, product: Product, limit: int = 6) -> list[Product]:
    """Products most often in the same orders as `product`."""
    other_ids = list(
        BoughtTogether.objects.filter(product=product, other__is_active=True)
        .order_by("-count", "other_id")
        .values_list("other_id", flat=True)[:limit]
    )
    found = products_by_ids(other_ids)
    return [found[i] for i in other_ids if i in found]


def products_recommended_for(*, user, limit: int = 8) -> list[Product]:
    """Top-rated products from the categories of the user's purchases, not already bought.

    Without purchases (or for anonymous shoppers): the best-rated products.
    """
    qs = with_available(Product.objects.filter(is_active=True)).select_related("category").defer(*LIST_DEFERRED)
    if getattr(user, "is_authenticated", False):
        bought = ProductPurchase.objects.filter(user=user)
        category_ids = bought.values("product__category_id")
        personal = list(
            qs.filter(category_id__in=category_ids)
            .exclude(pk__in=bought.values("product_id"))
            .order_by("-rating_avg", "-rating_count", "-id")[:limit]
        )
        if personal:
            return personal
    return list(qs.order_by("-rating_avg", "-rating_count", "-id")[:limit])


def products_similar(*, product: Product, exclude_ids: set[int] = frozenset(), limit: int = 4) -> list[Product]:
    """Products of the same category, those sharing most attribute values (colour, material...) first."""
    candidates = list(
        with_available(Product.objects.filter(is_active=True, category_id=product.category_id))
        .exclude(pk__in={product.pk, *exclude_ids})
        .select_related("category")
        .defer("search_vector", "description")
        .order_by("-rating_avg", "-id")[:40]
    )
    def values(p: Product) -> set[tuple[str, str]]:
        return {(key, str(value)) for key, value in (p.attributes or {}).items()}

    mine = values(product)

    def shared(other: Product) -> int:
        return len(mine & values(other))

    candidates.sort(key=lambda p: (-shared(p), -p.rating_avg, -p.pk))
    return candidates[:limit]


def products_best_rated(*, min_reviews: int = 3, exclude_ids: set[int] = frozenset(), limit: int = 8) -> list[Product]:
    """The best-rated active products with at least `min_reviews` ratings (a lone 5 is no proof)."""
    return list(
        with_available(Product.objects.filter(is_active=True, rating_count__gte=min_reviews))
        .exclude(pk__in=exclude_ids)
        .select_related("category")
        .defer(*LIST_DEFERRED)
        .order_by("-rating_avg", "-rating_count", "-id")[:limit]
    )
