"""Product search: one page of matches with its facets, and the search box's suggestions."""

import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.postgres.search import TrigramWordDistance
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Q, Value, When
from django.utils.translation import get_language

from catalog.cache import catalog_cache_key
from catalog.models import Product
from catalog.selectors.facets import product_facets, product_facets_with_page
from catalog.selectors.filters import ProductOrdering, ProductQuery, product_query_browsing, products_filtered
from catalog.selectors.products import LIST_DEFERRED
from catalog.selectors.stock import products_attach_stock
from catalog.translation import localized_field, translated_expression


@dataclass
class ProductSearchResult:
    products: list[Product]
    count: int
    page: int
    page_size: int
    facets: dict
    ordering: str
    stock_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _ordering(query: ProductQuery, ranked: bool) -> tuple[str, list]:
    ordering = query.ordering or (ProductOrdering.RELEVANCE if query.q else ProductOrdering.NEWEST)
    by = {
        ProductOrdering.PRICE: ["price", "id"],
        ProductOrdering.PRICE_DESC: ["-price", "-id"],
        ProductOrdering.NAME: ["sort_name", "id"],
        ProductOrdering.NEWEST: ["-created_at", "-id"],
        ProductOrdering.RATING: ["-rating_avg", "-rating_count", "-id"],
    }
    if ordering == ProductOrdering.RELEVANCE:
        return ordering, (["-rank", "-id"] if ranked else ["-created_at", "-id"])
    return ordering, by[ordering]


def product_search(query: ProductQuery) -> ProductSearchResult:
    """One page of products for `query`, with facets; a fixed number of queries whatever the page size."""
    qs, ranked = products_filtered(query)
    # Facets and count do not depend on page or sort: paging and re-sorting reuse them.
    facet_key = catalog_cache_key(
        "facets",
        query.q,
        query.category.pk if query.category else "",
        ",".join(sorted(query.brand)),
        query.min_price,
        query.max_price,
        query.currency,
        query.in_stock,
        sorted(query.attributes.items()),
        query.min_rating,
        get_language(),  # category names in the facets
    )
    facet_key = "catalog:facets:" + hashlib.sha256(facet_key.encode()).hexdigest()
    facets = cache.get(facet_key)
    ordering, order_by = _ordering(query, ranked)
    offset = (query.page - 1) * query.page_size
    page_ids = None
    if facets is None:
        if connection.vendor == "postgresql" and not product_query_browsing(query):
            facets, page_ids = product_facets_with_page(query, qs, ranked=ranked, ordering=ordering, offset=offset)
        else:
            facets = product_facets(query, qs)
        cache.set(facet_key, facets, settings.CATALOG_FACETS_CACHE_SECONDS)
    count = facets["total"]
    products = []
    if page_ids is not None:
        found = Product.objects.select_related("category").defer(*LIST_DEFERRED).in_bulk(page_ids)
        products = [found[pk] for pk in page_ids if pk in found]
    elif offset < count:
        if ordering == ProductOrdering.NAME:
            qs = qs.annotate(sort_name=translated_expression("name"))
        products = list(
            qs.select_related("category")
            .defer(*LIST_DEFERRED)
            .order_by(*order_by)[offset : offset + query.page_size]
        )
    # Stock of the page only, by primary key (joining it before the sort made
    # PostgreSQL hash the whole stock table for every search).
    tokens = products_attach_stock(products)
    return ProductSearchResult(
        products=products,
        count=count,
        page=query.page,
        page_size=query.page_size,
        facets=facets,
        ordering=ordering,
        stock_tokens=tokens,
    )


def product_autocomplete(*, q: str, limit: int = 10) -> list[Product]:
    """Product names for the search box, in the shopper's language and English; tolerant of typos on
    PostgreSQL (trigram word similarity)."""
    q = q.strip()[:100]
    if not q:
        return []
    # The active language's names, then English: a German shopper finds "Kopfhörer" and "headphones".
    columns = list(dict.fromkeys([localized_field("name"), localized_field("name", "en")]))
    qs = Product.objects.filter(is_active=True).only("id", "name", "slug", "thumbnail")
    if connection.vendor == "postgresql":
        # Nearest names first, straight from each language's GiST trigram index; a distance
        # below 0.6 (word similarity above 0.4) still matches one or two typos.
        # The cut-off is applied to the `limit` nearest, not inside the index scan:
        # as a filter, a word with no near name made the scan visit every product.
        found: dict[int, tuple[float, Product]] = {}
        for column in columns:
            nearest = qs.annotate(distance=TrigramWordDistance(q, column)).order_by("distance")[:limit]
            for product in nearest:
                distance = product.distance  # None: no name in that language
                if distance is not None and distance < 0.6 and distance < found.get(product.pk, (1.0,))[0]:
                    found[product.pk] = (distance, product)
        return [product for _distance, product in sorted(found.values(), key=lambda f: (f[0], f[1].pk))][:limit]
    matches = Q()
    starts = Q()
    for column in columns:
        matches |= Q(**{f"{column}__icontains": q})
        starts |= Q(**{f"{column}__istartswith": q})
    return list(
        qs.filter(matches)
        .annotate(starts=Case(When(starts, then=Value(0)), default=Value(1)), sort_name=translated_expression("name"))
        .order_by("starts", "sort_name", "id")[:limit]
    )
