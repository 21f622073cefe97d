"""Single products shaped for lists and pages."""

from collections.abc import Iterable

from catalog.models import Product
from catalog.selectors.stock import with_available

# Columns no page or answer shows: the search vector is several kilobytes of
# text per product that Python would parse for nothing; lists show no description.
PAGE_DEFERRED = ("search_vector",)
LIST_DEFERRED = ("search_vector", "description", "attributes")


def products_by_ids(ids: Iterable[int]) -> dict[int, Product]:
    """Products by id, with stock and category loaded in the same query."""
    return {
        p.pk: p
        for p in with_available(Product.objects.select_related("category"))
        .defer(*LIST_DEFERRED)
        .filter(pk__in=list(ids))
    }


def products_for_lines(ids: Iterable[int]) -> dict[int, Product]:
    """Products by id as a checkout's lines need them: no stock (their variants carry it), no category row
    (its id is on the product), none of the columns lists leave out."""
    return {p.pk: p for p in Product.objects.defer(*LIST_DEFERRED).filter(pk__in=list(ids))}


def product_get_for_page(*, slug: str) -> Product | None:
    """An active product with category and images, or None (stock: `products_attach_stock`)."""
    return (
        Product.objects.select_related("category")
        .defer(*PAGE_DEFERRED)
        .prefetch_related("images")
        .filter(slug=slug, is_active=True)
        .first()
    )
