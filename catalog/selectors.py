"""Catalog reads: products shaped for lists and pages, search with facets, prices, recommendations."""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordDistance
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, CharField, Count, F, FloatField, Func, Q, QuerySet, Sum, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.money import Money

from catalog.cache import TTL, catalog_cache_key, stock_tokens
from catalog.models import (
    AttributeCount,
    BoughtTogether,
    Category,
    FacetCount,
    Product,
    ProductPurchase,
    Review,
    Stock,
    StockMovement,
)
from shop.core.money import exchange_rate, minor_unit_quantum, money_convert

ORDERINGS = ("relevance", "price", "-price", "name", "-created", "-rating")
# Price bands in the shopper's currency: (lower inclusive, upper exclusive or None).
PRICE_BANDS = ((0, 25), (25, 50), (50, 100), (100, 250), (250, None))
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
    return _converter(currency, exchange_rate(settings.DEFAULT_CURRENCY, currency))


def _converter(currency: str, rate: Decimal) -> Callable[[Money], Money]:
    quantum = minor_unit_quantum(currency)

    def convert(money: Money) -> Money:
        if money.currency.code == currency:
            return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), currency)
        return Money((money.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP), currency)

    return convert


def price_threshold(amount: Decimal, currency: str, convert: Callable[[Money], Money] | None = None) -> Decimal:
    """The lowest base-currency price that is displayed in `currency` as `amount` or more.

    Price filters and price bands compare what the shopper sees: the price
    converted and rounded exactly as it is displayed (`price_converter`), so
    a product shown as 9.26 EUR is inside "from 9.26 EUR" and outside "up to
    9.25 EUR". Displayed prices grow with base prices, so the boundary is one
    base price, found by bisection over the base currency's minor units.
    """
    if amount <= 0:
        return Decimal(0)
    base = settings.DEFAULT_CURRENCY
    convert = convert or price_converter(currency)
    step = minor_unit_quantum(base)

    def shown(units: int) -> Decimal:
        return convert(Money(units * step, base)).amount

    low, high = 0, 1
    while shown(high) < amount:
        high *= 2
        if high > 10**15:  # beyond any price the database can hold
            return Decimal(10**13)
    while low < high:
        middle = (low + high) // 2
        if shown(middle) >= amount:
            high = middle
        else:
            low = middle + 1
    return low * step


def price_range_in_base(
    min_price: Decimal | None, max_price: Decimal | None, currency: str
) -> tuple[Decimal | None, Decimal | None]:
    """Base-currency bounds [low, high) of the products displayed between min_price and max_price in `currency`."""
    convert = price_converter(currency)
    low = price_threshold(min_price, currency, convert) if min_price is not None else None
    high = None
    if max_price is not None:
        quantum = minor_unit_quantum(currency)
        # Displayed at most max_price == displayed below the next displayable amount.
        next_amount = max_price.quantize(quantum, rounding=ROUND_FLOOR) + quantum
        high = price_threshold(next_amount, currency, convert)
    return low, high


def product_get_for_page(*, slug: str) -> Product | None:
    """An active product with category and images, or None (stock: `products_attach_stock`)."""
    return (
        Product.objects.select_related("category")
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
    """The category with this slug, or None; cached until the catalog changes (every listing asks)."""
    key = catalog_cache_key("category", hashlib.sha256(str(slug).encode()).hexdigest())
    found = cache.get(key)
    if found is None:
        category = Category.objects.filter(slug=slug).first()
        found = {"category": category}
        cache.set(key, found, TTL)
    return found["category"]


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


def out_of_stock_ids() -> QuerySet:
    """Ids of products with nothing left to reserve (every product has a stock row, made with it).

    On PostgreSQL a partial index holds exactly these rows, so "in stock" over
    thousands of matches is one small hashed anti-join instead of a stock
    lookup per match or a hash of the whole stock table.
    """
    return Stock.objects.filter(on_hand__lte=F("reserved")).values("product_id")


def in_stock_q() -> Q:
    return ~Q(pk__in=out_of_stock_ids())


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
    if query.min_price is not None or query.max_price is not None:
        low, high = price_range_in_base(query.min_price, query.max_price, query.currency)
        if low is not None:
            qs = qs.filter(price__gte=low)
        if high is not None:
            qs = qs.filter(price__lt=high)
    if query.in_stock is True:
        qs = qs.filter(in_stock_q())
    elif query.in_stock is False:
        qs = qs.exclude(in_stock_q())
    for key, values in query.attributes.items():
        if ATTRIBUTE_KEY.match(key) and values:
            if connection.vendor == "postgresql":
                # Containment (@>) is what the jsonb_path_ops GIN index answers.
                wanted = Q()
                for value in values:
                    wanted |= Q(attributes__contains={key: value})
                qs = qs.filter(wanted)
            else:
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
    """Each price band of `currency` as base-currency bounds [low, high), the same as the price filter's."""
    return _band_bounds_at(currency, exchange_rate(settings.DEFAULT_CURRENCY, currency))


@lru_cache(maxsize=64)
def _band_bounds_at(currency: str, rate: Decimal) -> list[tuple[Decimal, Decimal | None]]:
    convert = _converter(currency, rate)
    return [
        (price_threshold(Decimal(lo), currency, convert), price_threshold(Decimal(hi), currency, convert) if hi else None)
        for lo, hi in PRICE_BANDS
    ]


def facet_price_slots() -> list[Decimal]:
    """Where the facet-count price slots start: 0 and every base price where some currency's band starts."""
    starts = {Decimal(0)}
    for currency in settings.CURRENCIES:
        try:
            bounds = _band_bounds(currency)
        except MissingRate:  # no rate for it: its shoppers cannot see prices either
            continue
        starts.update(lo for lo, _hi in bounds)
    return sorted(starts)


def _band_case(column: str, bounds) -> Case:
    return Case(
        *[When(**{f"{column}__lt": hi}, then=Value(i)) for i, (_lo, hi) in enumerate(bounds) if hi is not None],
        default=Value(len(bounds) - 1),
    )


def _facets_grouped_postgres(inner: QuerySet, bands: int) -> tuple[dict, list[tuple[int, int]], list[dict]]:
    """Every facet count in one pass over `inner` (GROUPING SETS over its facet columns)."""
    inner_sql, params = inner.values(
        "category_id", "brand", "facet_band", "facet_weight", "facet_available", "facet_stale"
    ).query.sql_with_params()
    # inner_sql is compiled by Django with bound params; nothing user-typed is spliced in.
    sql = (
        "SELECT category_id, brand, facet_band, GROUPING(category_id), GROUPING(brand), GROUPING(facet_band), "  # noqa: S608
        "SUM(facet_weight), SUM(facet_weight * facet_available), SUM(facet_stale) "
        f"FROM ({inner_sql}) AS m GROUP BY GROUPING SETS ((category_id), (brand), (facet_band), ())"
    )
    totals = {"total": 0, "in_stock": 0, "stale": 0, **{f"band_{i}": 0 for i in range(bands)}}
    by_category, by_brand = [], []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for category_id, brand, facet_band, g_cat, g_brand, g_band, count, available, stale in cursor.fetchall():
            if not g_cat:
                by_category.append((category_id, int(count)))
            elif not g_brand:
                if brand:
                    by_brand.append({"brand": brand, "count": int(count)})
            elif not g_band:
                totals[f"band_{facet_band}"] = int(count)
            else:
                totals.update(total=int(count or 0), in_stock=int(available or 0), stale=int(stale or 0))
    return totals, by_category, by_brand


def _facets_grouped_portable(
    qs: QuerySet, bounds, *, price: str, weight: str | None, available: Q, stale: Q | None
) -> tuple[dict, list[tuple[int, int]], list[dict]]:
    """The same counts with plain aggregates (three queries), for databases without GROUPING SETS."""

    def total(condition: Q | None = None):
        if weight is None:
            return Count("id", filter=condition)
        return Sum(weight, filter=condition, default=0)

    aggregates = {"total": total(), "in_stock": total(available)}
    for i, (lo, hi) in enumerate(bounds):
        aggregates[f"band_{i}"] = total(Q(**{f"{price}__gte": lo}) & (Q(**{f"{price}__lt": hi}) if hi is not None else Q()))
    if stale is not None:
        aggregates["stale"] = Count("id", filter=stale)
    totals = {key: int(value or 0) for key, value in qs.order_by().aggregate(**aggregates).items()}
    totals.setdefault("stale", 0)
    by_category = [
        (row["category_id"], int(row["n"]))
        for row in qs.order_by().values("category_id").annotate(n=total()).order_by("-n", "category_id")[:50]
    ]
    by_brand = [
        {"brand": row["brand"], "count": int(row["n"])}
        for row in qs.exclude(brand="").order_by().values("brand").annotate(n=total()).order_by("-n", "brand")[:25]
    ]
    return totals, by_category, by_brand


def _facets_from_counts(query: ProductQuery, bounds) -> tuple[dict, list[tuple[int, int]], list[dict]] | None:
    """Facets summed from the FacetCount table (browsing: no search words, price, attribute or rating filter).

    A few thousand rows at most, whatever the number of products. None when a
    stored price slot straddles a band boundary (rates changed behind the
    services' back), so the caller counts the products instead.
    """
    qs = FacetCount.objects.all()
    if query.category is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(query.category))
    if query.brand:
        qs = qs.filter(brand__in=query.brand)
    if query.in_stock is not None:
        qs = qs.filter(in_stock=query.in_stock)
    totals = {"total": 0, "in_stock": 0, **{f"band_{i}": 0 for i in range(len(bounds))}}
    by_category: list[tuple[int, int]] = []
    by_brand: list[dict] = []
    slots: list[tuple[Decimal, Decimal | None, int]] = []
    if connection.vendor == "postgresql":
        inner_sql, params = qs.values(
            "category_id", "brand", "price_min", "price_max", "in_stock", "count"
        ).query.sql_with_params()
        # Slots, not bands, are grouped: mapping a dozen slots to bands here spares the
        # database a CASE per row. inner_sql is compiled by Django with bound params.
        sql = (
            "SELECT category_id, brand, price_min, price_max, GROUPING(category_id), GROUPING(brand), "  # noqa: S608
            "GROUPING(price_min, price_max), SUM(count), SUM(CASE WHEN in_stock THEN count ELSE 0 END) "
            f"FROM ({inner_sql}) AS m "
            "GROUP BY GROUPING SETS ((category_id), (brand), (price_min, price_max), ())"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for category_id, brand, low, high, g_cat, g_brand, g_slot, count, available in cursor.fetchall():
                if not g_cat:
                    by_category.append((category_id, int(count)))
                elif not g_brand:
                    if brand:
                        by_brand.append({"brand": brand, "count": int(count)})
                elif not g_slot:
                    slots.append((low, high, int(count)))
                else:
                    totals.update(total=int(count or 0), in_stock=int(available or 0))
    else:
        sums = qs.order_by().aggregate(
            total=Sum("count", default=0), in_stock=Sum("count", filter=Q(in_stock=True), default=0)
        )
        totals.update(total=int(sums["total"]), in_stock=int(sums["in_stock"]))
        for name, rows in (
            ("category", qs.order_by().values("category_id").annotate(n=Sum("count"))),
            ("brand", qs.exclude(brand="").order_by().values("brand").annotate(n=Sum("count"))),
            ("slot", qs.order_by().values("price_min", "price_max").annotate(n=Sum("count"))),
        ):
            for row in rows:
                if name == "category":
                    by_category.append((row["category_id"], int(row["n"])))
                elif name == "brand":
                    by_brand.append({"brand": row["brand"], "count": int(row["n"])})
                else:
                    slots.append((row["price_min"], row["price_max"], int(row["n"])))
    for low, high, count in slots:
        for i, (lo, hi) in enumerate(bounds):
            if low >= lo and (hi is None or (high is not None and high <= hi)):
                totals[f"band_{i}"] += count
                break
        else:
            return None  # the slot straddles a band boundary
    return totals, by_category, by_brand


def _facets_from_products(qs: QuerySet, bounds) -> tuple[dict, list[tuple[int, int]], list[dict]]:
    """Facets counted over the matching products themselves (search words and other filters)."""
    if connection.vendor == "postgresql":
        inner = qs.order_by().annotate(
            facet_band=_band_case("price", bounds),
            facet_weight=Value(1),
            facet_available=Case(When(in_stock_q(), then=Value(1)), default=Value(0)),
            facet_stale=Value(0),
        )
        return _facets_grouped_postgres(inner, len(bounds))
    return _facets_grouped_portable(qs, bounds, price="price", weight=None, available=in_stock_q(), stale=None)


def _attribute_facets_from_counts(query: ProductQuery) -> list[tuple[str, str, int]]:
    qs = AttributeCount.objects.all()
    if query.category is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(query.category))
    if query.brand:
        qs = qs.filter(brand__in=query.brand)
    if query.in_stock is not None:
        qs = qs.filter(in_stock=query.in_stock)
    rows = qs.order_by().values("name", "value").annotate(n=Sum("count"))
    return [(row["name"], row["value"], int(row["n"])) for row in rows]


def _attribute_facets_from_products(qs: QuerySet) -> list[tuple[str, str, int]]:
    inner = qs.order_by().values("attributes")
    if connection.vendor == "postgresql":
        inner_sql, params = inner.query.sql_with_params()
        # inner_sql is compiled by Django with bound params; nothing user-typed is spliced in.
        sql = (
            "SELECT e.key, e.value #>> '{}', COUNT(*) "  # noqa: S608
            f"FROM ({inner_sql}) AS m CROSS JOIN LATERAL jsonb_each(m.attributes) AS e "
            "WHERE jsonb_typeof(e.value) = 'string' GROUP BY 1, 2"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(name, value, int(n)) for name, value, n in cursor.fetchall()]
    counts: dict[tuple[str, str], int] = {}
    for attributes in inner.values_list("attributes", flat=True).iterator(chunk_size=2000):
        for name, value in (attributes or {}).items():
            if isinstance(value, str):
                counts[(name, value)] = counts.get((name, value), 0) + 1
    return [(name, value, n) for (name, value), n in counts.items()]


def _attribute_facets(rows: list[tuple[str, str, int]]) -> list[dict]:
    """[{"name", "values": [{"value", "count"}]}]: at most 10 attributes, 20 values each, most frequent first."""
    by_name: dict[str, list[dict]] = {}
    for name, value, n in rows:
        if n and ATTRIBUTE_KEY.match(name) and 0 < len(value) <= 100 and ":" not in name:
            by_name.setdefault(name, []).append({"value": value, "count": n})
    facets = []
    for name in sorted(by_name)[:10]:
        values = sorted(by_name[name], key=lambda v: (-v["count"], v["value"]))[:20]
        facets.append({"name": name, "values": values})
    return facets


def _browsing(query: ProductQuery) -> bool:
    """No filter beyond category, brand and availability: the facets come from FacetCount."""
    return not (query.q or query.attributes or query.min_rating is not None) and (
        query.min_price is None and query.max_price is None
    )


def product_facets(query: ProductQuery, qs: QuerySet | None = None) -> dict:
    """Counts per category, brand, price band (in the query's currency), availability and attribute value."""
    bounds = _band_bounds(query.currency)
    result = _facets_from_counts(query, bounds) if _browsing(query) else None
    if result is not None:
        attribute_rows = _attribute_facets_from_counts(query)
    else:
        if qs is None:
            qs, _ranked = products_filtered(query)
        result = _facets_from_products(qs, bounds)
        attribute_rows = _attribute_facets_from_products(qs)
    return _facets_dict(query, *result, attribute_rows)


def _facets_dict(query: ProductQuery, totals: dict, by_category, by_brand, attribute_rows) -> dict:
    by_category = sorted(by_category, key=lambda item: -item[1])[:25]
    names = {c.pk: c for c in Category.objects.filter(pk__in=[pk for pk, _n in by_category]).only("name", "slug")}
    categories = [
        {"slug": names[pk].slug, "name": names[pk].name, "count": n} for pk, n in by_category if pk in names
    ]
    categories.sort(key=lambda c: (-c["count"], c["name"]))
    by_brand = sorted(by_brand, key=lambda b: (-b["count"], b["brand"]))
    price_bands = []
    for i, (lo, hi) in enumerate(PRICE_BANDS):
        price_bands.append(
            {
                "min": Decimal(lo),
                "max": Decimal(hi) - minor_unit_quantum(query.currency) if hi else None,
                "currency": query.currency,
                "count": totals[f"band_{i}"],
            }
        )
    return {
        "total": totals["total"],
        "categories": categories,
        "brands": [{"name": b["brand"], "count": b["count"]} for b in by_brand[:25]],
        "price": price_bands,
        "in_stock": {"in_stock": totals["in_stock"], "out_of_stock": totals["total"] - totals["in_stock"]},
        "attributes": _attribute_facets(attribute_rows),
    }


# ORDER BY of the combined search pass, over the columns of its matches.
_MATCH_ORDER = {
    "relevance": "rank DESC, id DESC",
    "price": "price ASC, id ASC",
    "-price": "price DESC, id DESC",
    "name": "name ASC, id ASC",
    "-created": "created_at DESC, id DESC",
    "-rating": "rating_avg DESC, rating_count DESC, id DESC",
}


def _attribute_names() -> list[str]:
    """The attribute names products have (at most 10), cached until the catalog changes."""
    key = catalog_cache_key("attribute-names")
    names = cache.get(key)
    if names is None:
        found = AttributeCount.objects.order_by("name").values_list("name", flat=True).distinct()[:10]
        names = [name for name in found if ATTRIBUTE_KEY.match(name)]
        cache.set(key, names, TTL)
    return names


def _matches_in_one_pass(
    query: ProductQuery, qs: QuerySet, *, ranked: bool, ordering: str, offset: int
) -> tuple[dict, list[int]]:
    """Facets, attribute counts and the page's product ids, reading the matching products once (PostgreSQL).

    A common word matches thousands of products and each pass over them costs
    a heap visit per match, so the matches are materialized once, then counted
    (GROUPING SETS: category, brand, price band, each attribute, all) and
    sorted for the page from there.
    """
    bounds = _band_bounds(query.currency)
    attribute_names = _attribute_names()
    annotations = {
        "facet_band": _band_case("price", bounds),
        "facet_available": Case(When(in_stock_q(), then=Value(1)), default=Value(0)),
    }
    if not ranked:
        annotations["rank"] = Value(0.0, output_field=FloatField())
    for i, name in enumerate(attribute_names):
        # Only string values: what attr=name:value can ask for.
        annotations[f"facet_attr_{i}"] = Case(
            When(**{f"facet_type_{i}": "string"}, then=KeyTextTransform(name, "attributes")),
            default=Value(None),
            output_field=CharField(),
        )
    inner = qs.order_by()
    for i, name in enumerate(attribute_names):
        inner = inner.annotate(
            **{f"facet_type_{i}": Func(KeyTransform(name, "attributes"), function="jsonb_typeof", output_field=CharField())}
        )
    inner = inner.annotate(**annotations)
    attr_columns = [f"facet_attr_{i}" for i in range(len(attribute_names))]
    inner_sql, params = inner.values(
        "id", "category_id", "brand", "price", "name", "created_at", "rating_avg", "rating_count",
        "facet_band", "facet_available", "rank", *attr_columns,
    ).query.sql_with_params()
    order = _MATCH_ORDER["-created" if ordering == "relevance" and not ranked else ordering]
    grouped = ["category_id", "brand", "facet_band", *attr_columns]
    sets = ", ".join(f"({column})" for column in grouped)
    # inner_sql is compiled by Django with bound params; every other name here is ours.
    sql = (
        f"WITH m AS MATERIALIZED ({inner_sql}) "  # noqa: S608
        f"SELECT 0, GROUPING({', '.join(grouped)}), {', '.join(grouped)}, COUNT(*), SUM(facet_available) "
        f"FROM m GROUP BY GROUPING SETS ({sets}, ()) "
        "UNION ALL "
        f"(SELECT 1, 0, id, {', '.join(['NULL'] * (len(grouped) - 1))}, NULL, NULL FROM m ORDER BY {order} "
        "LIMIT %s OFFSET %s)"
    )
    totals = {"total": 0, "in_stock": 0, **{f"band_{i}": 0 for i in range(len(bounds))}}
    by_category, by_brand, attribute_rows, page_ids = [], [], [], []
    every = (1 << len(grouped)) - 1  # GROUPING(...) bit set: that column is not grouped
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, query.page_size, offset])
        for row in cursor.fetchall():
            part, mask, values, count, available = row[0], row[1], row[2 : 2 + len(grouped)], row[-2], row[-1]
            if part == 1:
                page_ids.append(values[0])
                continue
            if mask == every:
                totals.update(total=int(count or 0), in_stock=int(available or 0))
                continue
            position = len(grouped) - 1 - (every ^ mask).bit_length() + 1
            value = values[position]
            if position == 0:
                by_category.append((value, int(count)))
            elif position == 1:
                if value:
                    by_brand.append({"brand": value, "count": int(count)})
            elif position == 2:
                totals[f"band_{value}"] = int(count)
            elif value is not None:
                attribute_rows.append((attribute_names[position - 3], value, int(count)))
    return _facets_dict(query, totals, by_category, by_brand, attribute_rows), page_ids


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
    ordering, order_by = _ordering(query, ranked)
    offset = (query.page - 1) * query.page_size
    page_ids = None
    if facets is None:
        if connection.vendor == "postgresql" and not _browsing(query):
            facets, page_ids = _matches_in_one_pass(query, qs, ranked=ranked, ordering=ordering, offset=offset)
        else:
            facets = product_facets(query, qs)
        cache.set(facet_key, facets, settings.CATALOG_FACETS_CACHE_SECONDS)
    count = facets["total"]
    products = []
    if page_ids is not None:
        found = Product.objects.select_related("category").defer(*LIST_DEFERRED).in_bulk(page_ids)
        products = [found[pk] for pk in page_ids if pk in found]
    elif offset < count:
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


def products_attach_stock(products: list[Product]) -> dict[str, str]:
    """Load the current stock of `products` (one query) and return the stock tokens it is current for.

    The tokens are read first: a cached answer built from this stock is then
    never stored under tokens newer than the stock it shows (catalog.cache).
    """
    if not products:
        return {}
    tokens = stock_tokens(p.pk for p in products)
    stocks = Stock.objects.in_bulk([p.pk for p in products])
    for product in products:
        stock = stocks.get(product.pk)
        if stock is not None:
            Product.stock.related.field.set_cached_value(stock, product)
            product._state.fields_cache["stock"] = stock
        else:
            product._state.fields_cache["stock"] = None
    return tokens


def product_autocomplete(*, q: str, limit: int = 10) -> list[Product]:
    """Product names for the search box; tolerant of typos on PostgreSQL (trigram word similarity)."""
    q = q.strip()[:100]
    if not q:
        return []
    qs = Product.objects.filter(is_active=True).only("id", "name", "slug", "thumbnail")
    if connection.vendor == "postgresql":
        # Nearest names first, straight from the GiST trigram index; a distance
        # below 0.6 (word similarity above 0.4) still matches one or two typos.
        # The cut-off is applied to the `limit` nearest, not inside the index scan:
        # as a filter, a word with no near name made the scan visit every product.
        nearest = qs.annotate(distance=TrigramWordDistance(q, "name")).order_by("distance")[:limit]
        return [product for product in nearest if product.distance < 0.6]
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
