"""Catalog reads: products shaped for lists and pages, search with facets, prices, recommendations."""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordDistance
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Value, When
from djmoney.money import Money

from catalog.cache import TTL, catalog_cache_key
from catalog.models import BoughtTogether, Category, Product, ProductPurchase, Review, Stock, StockMovement
from shop.money import exchange_rate, minor_unit_quantum, money_convert

ORDERINGS = ("relevance", "price", "-price", "name", "-created", "-rating")
# Price bands in the shopper's currency: (lower inclusive, upper exclusive or None).
PRICE_BANDS = ((0, 25), (25, 50), (50, 100), (100, 250), (250, None))
FACETS_TTL = 120
ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
# Columns no page or answer shows: the search vector is several kilobytes of
# text per product that Python would parse for nothing; lists show no description.
PAGE_DEFERRED = ("search_vector",)
LIST_DEFERRED = ("search_vector", "description", "attributes")


# --- single products, prices -----------------------------------------------------------


def products_by_ids(ids: Iterable[int]) -> dict[int, Product]:
    """Products by id, with stock and category loaded in the same query."""
    return {
        p.pk: p
        for p in Product.objects.select_related("stock", "category").defer(*LIST_DEFERRED).filter(pk__in=list(ids))
    }


def product_available(product: Product) -> int:
    """Units that can still be reserved (0 when the product has no stock row)."""
    stock = getattr(product, "stock", None)
    return max(stock.on_hand - stock.reserved, 0) if stock is not None else 0


def product_price(product: Product, currency: str) -> Money:
    """The product's price in `currency`, converted with the stored rates and rounded."""
    return money_convert(product.price, currency)


def price_converter(currency: str) -> Callable[[Money], Money]:
    """One rate lookup for a whole list; the same rounding as money_convert."""
    base = settings.DEFAULT_CURRENCY
    rate = exchange_rate(base, currency)
    quantum = minor_unit_quantum(currency)

    def convert(money: Money) -> Money:
        if money.currency.code == currency:
            return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), currency)
        return Money((money.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP), currency)

    return convert


def amount_to_base(amount: Decimal, currency: str) -> Decimal:
    """A bound typed in `currency`, expressed in the base currency (for price filters)."""
    base = settings.DEFAULT_CURRENCY
    if currency == base:
        return amount
    return money_convert(Money(amount, currency), base).amount


def product_get_for_page(*, slug: str) -> Product | None:
    """An active product with category, stock and images, or None."""
    return (
        Product.objects.select_related("category", "stock")
        .defer(*PAGE_DEFERRED)
        .prefetch_related("images")
        .filter(slug=slug, is_active=True)
        .first()
    )


def product_reviews(*, product: Product, limit: int | None = None) -> QuerySet[Review]:
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


def stock_movements_for(*, product_id: int) -> QuerySet[StockMovement]:
    return StockMovement.objects.filter(product_id=product_id).order_by("id")


# --- categories ---------------------------------------------------------------------------


def category_tree() -> list[dict]:
    """The whole category tree as nested dicts, cached until the catalog changes."""
    key = catalog_cache_key("tree")
    tree = cache.get(key)
    if tree is not None:
        return tree
    roots: list[dict] = []
    by_path: dict[str, dict] = {}
    for cat in Category.objects.order_by("path"):
        node = {"id": cat.pk, "name": cat.name, "slug": cat.slug, "depth": cat.depth, "children": []}
        by_path[cat.path] = node
        parent = by_path.get(cat.path[: -Category.steplen])
        (parent["children"] if parent else roots).append(node)
    cache.set(key, roots, TTL)
    return roots


def category_get_by_slug(slug: str) -> Category | None:
    return Category.objects.filter(slug=slug).first()


def category_descendant_ids(category: Category) -> QuerySet:
    return Category.objects.filter(path__startswith=category.path).values("id")


# --- search -------------------------------------------------------------------------------------


@dataclass
class ProductQuery:
    """Validated search input (see catalog.api.ProductQueryInput)."""

    q: str = ""
    category: Category | None = None
    brand: list[str] = field(default_factory=list)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    currency: str = settings.DEFAULT_CURRENCY
    in_stock: bool | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    min_rating: int | None = None
    ordering: str = ""
    page: int = 1
    page_size: int = 20


@dataclass
class ProductSearchResult:
    products: list[Product]
    count: int
    page: int
    page_size: int
    facets: dict
    ordering: str

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _text_filter(qs: QuerySet, q: str) -> tuple[QuerySet, bool]:
    """Full-text match on PostgreSQL (ranked); word-by-word icontains elsewhere."""
    if connection.vendor == "postgresql":
        query = SearchQuery(q, search_type="websearch", config="english")
        return qs.filter(search_vector=query).annotate(rank=SearchRank(F("search_vector"), query)), True
    for word in q.split()[:8]:
        qs = qs.filter(
            Q(name__icontains=word)
            | Q(brand__icontains=word)
            | Q(category__name__icontains=word)
            | Q(description__icontains=word)
        )
    return qs, False


def products_filtered(query: ProductQuery) -> tuple[QuerySet, bool]:
    """Active products matching every filter of `query`; (queryset, ranked)."""
    qs = Product.objects.filter(is_active=True)
    ranked = False
    if query.q:
        qs, ranked = _text_filter(qs, query.q)
    if query.category is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(query.category))
    if query.brand:
        qs = qs.filter(brand__in=query.brand)
    if query.min_price is not None:
        qs = qs.filter(price__gte=amount_to_base(query.min_price, query.currency))
    if query.max_price is not None:
        qs = qs.filter(price__lte=amount_to_base(query.max_price, query.currency))
    if query.in_stock is True:
        qs = qs.filter(stock__on_hand__gt=F("stock__reserved"))
    elif query.in_stock is False:
        qs = qs.exclude(stock__on_hand__gt=F("stock__reserved"))
    for key, values in query.attributes.items():
        if ATTRIBUTE_KEY.match(key) and values:
            qs = qs.filter(**{f"attributes__{key}__in": values})
    if query.min_rating is not None:
        qs = qs.filter(rating_avg__gte=query.min_rating)
    return qs, ranked


def _ordering(query: ProductQuery, ranked: bool) -> tuple[str, list]:
    ordering = query.ordering or ("relevance" if query.q else "-created")
    by = {
        "price": ["price", "id"],
        "-price": ["-price", "-id"],
        "name": ["name", "id"],
        "-created": ["-created_at", "-id"],
        "-rating": ["-rating_avg", "-rating_count", "-id"],
    }
    if ordering == "relevance":
        return ordering, (["-rank", "-id"] if ranked else ["-created_at", "-id"])
    return ordering, by[ordering]


def _band_bounds(currency: str) -> list[tuple[Decimal, Decimal | None]]:
    return [
        (amount_to_base(Decimal(lo), currency), amount_to_base(Decimal(hi), currency) if hi else None)
        for lo, hi in PRICE_BANDS
    ]


def _facets_postgres(qs: QuerySet, bounds, *, probe_stock: bool) -> tuple[dict, list[dict], list[dict]]:
    """All facet counts in one pass over the matches (GROUPING SETS), plus the category names."""
    band = Case(
        *[When(price__lt=hi, then=Value(i)) for i, (_lo, hi) in enumerate(bounds) if hi is not None],
        default=Value(len(bounds) - 1),
    )
    # A correlated scalar subquery probes the stock primary key per match; a join
    # (or EXISTS, which the planner hashes) read all of catalog_stock even for a
    # few hundred matches.
    # Browsing without search terms covers large sets, where one hash join is cheaper.
    units = (
        Subquery(Stock.objects.filter(product_id=OuterRef("pk")).values_list(F("on_hand") - F("reserved"))[:1])
        if probe_stock
        else F("stock__on_hand") - F("stock__reserved")
    )
    inner = (
        qs.order_by()
        .annotate(facet_band=band, facet_units=units)
        .annotate(facet_available=Case(When(facet_units__gt=0, then=Value(1)), default=Value(0)))
    )
    inner_sql, params = inner.values("category_id", "brand", "facet_band", "facet_available").query.sql_with_params()
    # inner_sql is compiled by Django with bound params; nothing user-typed is spliced in.
    sql = f"SELECT category_id, brand, facet_band, GROUPING(category_id), GROUPING(brand), GROUPING(facet_band), COUNT(*), SUM(facet_available) FROM ({inner_sql}) AS m GROUP BY GROUPING SETS ((category_id), (brand), (facet_band), ())"  # noqa: S608
    totals = {"total": 0, "in_stock": 0, **{f"band_{i}": 0 for i in range(len(bounds))}}
    by_category, by_brand = [], []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for category_id, brand, facet_band, g_cat, g_brand, g_band, count, available in cursor.fetchall():
            if not g_cat:
                by_category.append((category_id, count))
            elif not g_brand:
                if brand:
                    by_brand.append({"brand": brand, "count": count})
            elif not g_band:
                totals[f"band_{facet_band}"] = count
            else:
                totals["total"], totals["in_stock"] = count, int(available or 0)
    by_category.sort(key=lambda item: -item[1])
    by_category = by_category[:25]
    names = {c.pk: c for c in Category.objects.filter(pk__in=[pk for pk, _n in by_category]).only("name", "slug")}
    categories = [
        {"category_id": pk, "category__name": names[pk].name, "category__slug": names[pk].slug, "count": n}
        for pk, n in by_category
        if pk in names
    ]
    categories.sort(key=lambda c: (-c["count"], c["category__name"]))
    by_brand.sort(key=lambda b: (-b["count"], b["brand"]))
    return totals, categories, by_brand[:25]


def product_facets(qs: QuerySet, currency: str, *, selective: bool = True) -> dict:
    """Counts per category, brand, price band and stock (one pass on PostgreSQL, three queries elsewhere)."""
    bounds = _band_bounds(currency)
    if connection.vendor == "postgresql":
        totals, categories, brands = _facets_postgres(qs, bounds, probe_stock=selective)
        return _facets_dict(totals, categories, brands, currency)
    aggregates = {"total": Count("id"), "in_stock": Count("id", filter=Q(stock__on_hand__gt=F("stock__reserved")))}
    for i, (lo, hi) in enumerate(bounds):
        cond = Q(price__gte=lo) & (Q(price__lt=hi) if hi is not None else Q())
        aggregates[f"band_{i}"] = Count("id", filter=cond)
    totals = qs.order_by().aggregate(**aggregates)
    categories = list(
        qs.order_by()
        .values("category_id", "category__name", "category__slug")
        .annotate(count=Count("id"))
        .order_by("-count", "category__name")[:25]
    )
    brands = list(
        qs.exclude(brand="").order_by().values("brand").annotate(count=Count("id")).order_by("-count", "brand")[:25]
    )
    return _facets_dict(totals, categories, brands, currency)


def _facets_dict(totals: dict, categories: list[dict], brands: list[dict], currency: str) -> dict:
    price_bands = []
    for i, (lo, hi) in enumerate(PRICE_BANDS):
        price_bands.append(
            {
                "min": Decimal(lo),
                "max": Decimal(hi) - minor_unit_quantum(currency) if hi else None,
                "currency": currency,
                "count": totals[f"band_{i}"],
            }
        )
    return {
        "total": totals["total"],
        "categories": [
            {"slug": c["category__slug"], "name": c["category__name"], "count": c["count"]} for c in categories
        ],
        "brands": [{"name": b["brand"], "count": b["count"]} for b in brands],
        "price": price_bands,
        "in_stock": {"in_stock": totals["in_stock"], "out_of_stock": totals["total"] - totals["in_stock"]},
    }


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
    )
    facet_key = "catalog:facets:" + hashlib.sha256(facet_key.encode()).hexdigest()
    facets = cache.get(facet_key)
    if facets is None:
        facets = product_facets(qs, query.currency, selective=bool(query.q))
        cache.set(facet_key, facets, getattr(settings, "CATALOG_FACETS_CACHE_SECONDS", FACETS_TTL))
    count = facets["total"]
    ordering, order_by = _ordering(query, ranked)
    offset = (query.page - 1) * query.page_size
    products = []
    if offset < count:
        products = list(
            qs.select_related("category")
            .defer(*LIST_DEFERRED)
            .order_by(*order_by)[offset : offset + query.page_size]
        )
        # Stock of the page only, by primary key (joining it before the sort made
        # PostgreSQL hash the whole stock table for every search).
        stocks = Stock.objects.in_bulk([p.pk for p in products])
        for product in products:
            stock = stocks.get(product.pk)
            if stock is not None:
                Product.stock.related.field.set_cached_value(stock, product)
                product._state.fields_cache["stock"] = stock
    return ProductSearchResult(
        products=products,
        count=count,
        page=query.page,
        page_size=query.page_size,
        facets=facets,
        ordering=ordering,
    )


def product_autocomplete(*, q: str, limit: int = 10) -> list[Product]:
    """Product names for the search box; tolerant of typos on PostgreSQL (trigram word similarity)."""
    q = q.strip()[:100]
    if not q:
        return []
    qs = Product.objects.filter(is_active=True).only("id", "name", "slug", "thumbnail")
    if connection.vendor == "postgresql":
        # Nearest names first, straight from the GiST trigram index; a distance
        # below 0.6 (word similarity above 0.4) still matches one or two typos.
        return list(
            qs.annotate(distance=TrigramWordDistance(q, "name"))
            .filter(distance__lt=0.6)
            .order_by("distance")[:limit]
        )
    return list(
        qs.filter(name__icontains=q)
        .annotate(starts=Case(When(name__istartswith=q, then=Value(0)), default=Value(1)))
        .order_by("starts", "name", "id")[:limit]
    )


# --- recommendations --------------------------------------------------------------------


def products_new(*, limit: int = 8) -> list[Product]:
    return list(
        Product.objects.filter(is_active=True)
        .select_related("category", "stock")
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
    qs = Product.objects.filter(is_active=True).select_related("category", "stock").defer(*LIST_DEFERRED)
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


# --- export ------------------------------------------------------------------------------


def products_export_rows(qs: QuerySet[Product] | None = None) -> Iterable[list[str]]:
    """CSV rows (header first) for products; the import reads the same columns."""
    import json

    from catalog.services import CSV_FIELDS

    yield CSV_FIELDS
    qs = (qs if qs is not None else Product.objects.all()).select_related("category").order_by("id")
    for p in qs.iterator(chunk_size=2000):
        yield [
            p.sku,
            p.slug,
            p.name,
            p.brand,
            p.category.slug,
            str(p.price.amount),
            "1" if p.is_active else "0",
            p.description,
            json.dumps(p.attributes, sort_keys=True, ensure_ascii=False),
        ]
