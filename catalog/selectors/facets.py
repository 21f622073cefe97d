"""Facet counts of a search: per category, brand, price band, availability and attribute value.

Browsing (no search words, price, attribute or rating filter) sums the
FacetCount and AttributeCount tables that catalog.services.facets keeps exact;
anything else counts the matching products.
"""

from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, CharField, Count, F, FloatField, Func, Q, QuerySet, Sum, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from djmoney.contrib.exchange.exceptions import MissingRate

from catalog.cache import TTL, catalog_cache_key
from catalog.models import AttributeCount, Category, FacetCount, ProductVariant, Stock
from catalog.selectors.categories import category_descendant_ids
from catalog.selectors.filters import (
    ATTRIBUTE_KEY,
    ProductOrdering,
    ProductQuery,
    product_query_browsing,
    products_filtered,
)
from catalog.selectors.prices import price_converter_at, price_from_expression, price_threshold
from catalog.selectors.stock import in_stock_q
from catalog.translation import translated_expression
from shop.core.money import exchange_rate, minor_unit_quantum

# Price bands in the shopper's currency: (lower inclusive, upper exclusive or None).
PRICE_BANDS = ((0, 25), (25, 50), (50, 100), (100, 250), (250, None))


def _band_bounds(currency: str) -> list[tuple[Decimal, Decimal | None]]:
    """Each price band of `currency` as base-currency bounds [low, high), the same as the price filter's."""
    return _band_bounds_at(currency, exchange_rate(settings.DEFAULT_CURRENCY, currency))


@lru_cache(maxsize=64)
def _band_bounds_at(currency: str, rate: Decimal) -> list[tuple[Decimal, Decimal | None]]:
    convert = price_converter_at(currency, rate)
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
    if connection.vendor == "postgresql":
        by_category, by_brand, slots = _facet_counts_grouped_postgres(qs, totals)
    else:
        by_category, by_brand, slots = _facet_counts_grouped_portable(qs, totals)
    if not _slots_into_bands(slots, bounds, totals):
        return None
    return totals, by_category, by_brand


def _facet_counts_grouped_postgres(qs: QuerySet, totals: dict) -> tuple[list, list, list]:
    """(by_category, by_brand, price slots) of FacetCount rows `qs` in one pass; fills the totals."""
    by_category: list[tuple[int, int]] = []
    by_brand: list[dict] = []
    slots: list[tuple[Decimal, Decimal | None, int]] = []
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
    return by_category, by_brand, slots


def _facet_counts_grouped_portable(qs: QuerySet, totals: dict) -> tuple[list, list, list]:
    """The same as _facet_counts_grouped_postgres with plain aggregates, for databases without GROUPING SETS."""
    sums = qs.order_by().aggregate(
        total=Sum("count", default=0), in_stock=Sum("count", filter=Q(in_stock=True), default=0)
    )
    totals.update(total=int(sums["total"]), in_stock=int(sums["in_stock"]))
    by_category = [
        (row["category_id"], int(row["n"]))
        for row in qs.order_by().values("category_id").annotate(n=Sum("count"))
    ]
    by_brand = [
        {"brand": row["brand"], "count": int(row["n"])}
        for row in qs.exclude(brand="").order_by().values("brand").annotate(n=Sum("count"))
    ]
    slots = [
        (row["price_min"], row["price_max"], int(row["n"]))
        for row in qs.order_by().values("price_min", "price_max").annotate(n=Sum("count"))
    ]
    return by_category, by_brand, slots


def _slots_into_bands(slots, bounds, totals: dict) -> bool:
    """Add each price slot's count to its band's total; False when a slot straddles a band boundary."""
    for low, high, count in slots:
        for i, (lo, hi) in enumerate(bounds):
            if low >= lo and (hi is None or (high is not None and high <= hi)):
                totals[f"band_{i}"] += count
                break
        else:
            return False
    return True


def with_price_from(qs: QuerySet) -> QuerySet:
    """`qs` with its "from" price (the lowest variant's) as `price_from`, for bands and filters."""
    return qs if "price_from" in qs.query.annotations else qs.alias(price_from=price_from_expression())


def _facets_from_products(qs: QuerySet, bounds) -> tuple[dict, list[tuple[int, int]], list[dict]]:
    """Facets counted over the matching products themselves (search words and other filters);
    a product's price band is that of its "from" price."""
    qs = with_price_from(qs)
    if connection.vendor == "postgresql":
        inner = qs.order_by().annotate(
            facet_band=_band_case("price_from", bounds),
            facet_weight=Value(1),
            facet_available=Case(When(in_stock_q(), then=Value(1)), default=Value(0)),
            facet_stale=Value(0),
        )
        return _facets_grouped_postgres(inner, len(bounds))
    return _facets_grouped_portable(qs, bounds, price="price_from", weight=None, available=in_stock_q(), stale=None)


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


def _option_facets_from_products(qs: QuerySet, query: ProductQuery) -> list[tuple[str, str, int]]:
    """Variant options (size=M) of the matching products: products per value, one query. Asked for
    products in stock, only in-stock variants count (as AttributeCount's in-stock rows do)."""
    variants = ProductVariant.objects.filter(product_id__in=qs.order_by().values("id"), option_values__isnull=False)
    if query.in_stock is True:
        serving = Stock.objects.filter(warehouse__is_active=True, on_hand__gt=F("reserved"))
        variants = variants.filter(pk__in=serving.values("variant_id"))
    rows = (
        variants.order_by()
        .values("option_values__option__code", "option_values__value")
        .annotate(n=Count("product_id", distinct=True))
    )
    return [(row["option_values__option__code"], row["option_values__value"], int(row["n"])) for row in rows]


def _attribute_facets(rows: list[tuple[str, str, int]]) -> list[dict]:
    """[{"name", "values": [{"value", "count"}]}]: at most 10 attributes, 20 values each, most frequent first.
    A value both an attribute and a variant option has (colour=red) adds up."""
    merged: dict[tuple[str, str], int] = {}
    for name, value, n in rows:
        merged[(name, value)] = merged.get((name, value), 0) + n
    by_name: dict[str, list[dict]] = {}
    for (name, value), n in merged.items():
        if n and ATTRIBUTE_KEY.match(name) and 0 < len(value) <= 100 and ":" not in name:
            by_name.setdefault(name, []).append({"value": value, "count": n})
    facets = []
    for name in sorted(by_name)[:10]:
        values = sorted(by_name[name], key=lambda v: (-v["count"], v["value"]))[:20]
        facets.append({"name": name, "values": values})
    return facets


def product_facets(query: ProductQuery, qs: QuerySet | None = None) -> dict:
    """Counts per category, brand, price band (in the query's currency), availability and attribute value."""
    bounds = _band_bounds(query.currency)
    result = _facets_from_counts(query, bounds) if product_query_browsing(query) else None
    if result is not None:
        attribute_rows = _attribute_facets_from_counts(query)
    else:
        if qs is None:
            qs, _ranked = products_filtered(query)
        result = _facets_from_products(qs, bounds)
        attribute_rows = _attribute_facets_from_products(qs) + _option_facets_from_products(qs, query)
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
    ProductOrdering.RELEVANCE: "rank DESC, id DESC",
    ProductOrdering.PRICE: "price ASC, id ASC",
    ProductOrdering.PRICE_DESC: "price DESC, id DESC",
    ProductOrdering.NAME: "sort_name ASC, id ASC",
    ProductOrdering.NEWEST: "created_at DESC, id DESC",
    ProductOrdering.RATING: "rating_avg DESC, rating_count DESC, id DESC",
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


def product_facets_with_page(
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
    inner_sql, params, grouped = _one_pass_matches_sql(qs, bounds, attribute_names, ranked=ranked)
    if ordering == ProductOrdering.RELEVANCE and not ranked:
        ordering = ProductOrdering.NEWEST
    sets = ", ".join(f"({column})" for column in grouped)
    # inner_sql is compiled by Django with bound params; every other name here is ours.
    sql = (
        f"WITH m AS MATERIALIZED ({inner_sql}) "  # noqa: S608
        f"SELECT 0, GROUPING({', '.join(grouped)}), {', '.join(grouped)}, COUNT(*), SUM(facet_available) "
        f"FROM m GROUP BY GROUPING SETS ({sets}, ()) "
        "UNION ALL "
        f"(SELECT 1, 0, id, {', '.join(['NULL'] * (len(grouped) - 1))}, NULL, NULL FROM m ORDER BY {_MATCH_ORDER[ordering]} "
        "LIMIT %s OFFSET %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, query.page_size, offset])
        rows = cursor.fetchall()
    totals, by_category, by_brand, attribute_rows, page_ids = _one_pass_read(rows, grouped, attribute_names, bounds)
    attribute_rows += _option_facets_from_products(qs, query)
    return _facets_dict(query, totals, by_category, by_brand, attribute_rows), page_ids


def _one_pass_matches_sql(qs: QuerySet, bounds, attribute_names: list[str], *, ranked: bool) -> tuple[str, tuple, list]:
    """(SQL, params) of the matches with their facet columns, and the names of the columns to group by."""
    annotations = {
        "sort_name": translated_expression("name"),
        "facet_band": _band_case("price_from", bounds),
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
    inner = with_price_from(qs).order_by()
    for i, name in enumerate(attribute_names):
        inner = inner.annotate(
            **{f"facet_type_{i}": Func(KeyTransform(name, "attributes"), function="jsonb_typeof", output_field=CharField())}
        )
    inner = inner.annotate(**annotations)
    attr_columns = [f"facet_attr_{i}" for i in range(len(attribute_names))]
    inner_sql, params = inner.values(
        "id", "category_id", "brand", "price", "sort_name", "created_at", "rating_avg", "rating_count",
        "facet_band", "facet_available", "rank", *attr_columns,
    ).query.sql_with_params()
    return inner_sql, params, ["category_id", "brand", "facet_band", *attr_columns]


def _one_pass_read(rows, grouped: list[str], attribute_names: list[str], bounds) -> tuple:
    """(totals, by_category, by_brand, attribute_rows, page_ids) from the rows of the one-pass query."""
    totals = {"total": 0, "in_stock": 0, **{f"band_{i}": 0 for i in range(len(bounds))}}
    by_category, by_brand, attribute_rows, page_ids = [], [], [], []
    every = (1 << len(grouped)) - 1  # GROUPING(...) bit set: that column is not grouped
    for row in rows:
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
    return totals, by_category, by_brand, attribute_rows, page_ids
