"""FacetCount and AttributeCount: the browsing facet counts, kept exact group by group."""

import zlib
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, QuerySet, Value, When

from catalog.models import AttributeCount, FacetCount, Product, ProductVariant
from catalog.selectors.facets import facet_price_slots, with_price_from
from catalog.selectors.filters import ATTRIBUTE_KEY
from catalog.selectors.stock import in_stock_q

_FACET_LOCK_CLASS = 0x5F_AC  # first key of the advisory locks of FacetCount groups


def _facet_groups_of(product_ids: Iterable[int]) -> set[tuple[int, str]]:
    return set(Product.objects.filter(pk__in=list(product_ids)).values_list("category_id", "brand"))


def _facet_group_q(groups: Iterable[tuple[int, str]]) -> Q:
    condition = Q(pk__in=[])
    for category_id, brand in groups:
        condition |= Q(category_id=category_id, brand=brand)
    return condition


def _facet_rows(products: QuerySet) -> list[FacetCount]:
    """FacetCount rows (one per category, brand, price slot and availability) of `products`."""
    slots = facet_price_slots()
    # The slot of the "from" price (the lowest variant's), as searches band and filter it.
    slot = Case(
        *[When(price_from__lt=slots[i + 1], then=Value(i)) for i in range(len(slots) - 1)],
        default=Value(len(slots) - 1),
    )
    available = Case(When(in_stock_q(), then=Value(1)), default=Value(0))
    grouped = (
        with_price_from(products.filter(is_active=True))
        .order_by()
        .annotate(facet_slot=slot, facet_available=available)
        .values("category_id", "brand", "facet_slot", "facet_available")
        .annotate(n=Count("id"))
    )
    return [
        FacetCount(
            category_id=row["category_id"],
            brand=row["brand"],
            price_min=slots[row["facet_slot"]],
            price_max=slots[row["facet_slot"] + 1] if row["facet_slot"] + 1 < len(slots) else None,
            in_stock=bool(row["facet_available"]),
            count=row["n"],
        )
        for row in grouped
    ]


def _attribute_rows(products: QuerySet) -> list[AttributeCount]:
    """AttributeCount rows of `products`: string attribute values that a filter can ask for."""
    available = Case(When(in_stock_q(), then=Value(1)), default=Value(0))
    inner = products.filter(is_active=True).order_by().annotate(facet_available=available)
    inner = inner.values("category_id", "brand", "facet_available", "attributes")
    counts: dict[tuple, int] = defaultdict(int)
    if connection.vendor == "postgresql":
        inner_sql, params = inner.query.sql_with_params()
        # inner_sql is compiled by Django with bound params; nothing user-typed is spliced in.
        sql = (
            "SELECT m.category_id, m.brand, m.facet_available, e.key, e.value #>> '{}', COUNT(*) "  # noqa: S608
            f"FROM ({inner_sql}) AS m CROSS JOIN LATERAL jsonb_each(m.attributes) AS e "
            "WHERE jsonb_typeof(e.value) = 'string' GROUP BY 1, 2, 3, 4, 5"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for category_id, brand, available, name, value, n in cursor.fetchall():
                counts[(category_id, brand, available, name, value)] += n
    else:
        for row in inner.iterator(chunk_size=2000):
            for name, value in (row["attributes"] or {}).items():
                if isinstance(value, str):
                    counts[(row["category_id"], row["brand"], row["facet_available"], name, value)] += 1
    _option_counts(products, counts)
    return [
        AttributeCount(category_id=c, brand=b, in_stock=bool(a), name=name, value=value, count=n)
        for (c, b, a, name, value), n in counts.items()
        if ATTRIBUTE_KEY.match(name) and 0 < len(value) <= 100
    ]


def _option_counts(products: QuerySet, counts: dict[tuple, int]) -> None:
    """Add the variant options (size=M) to `counts`: a product counts once per value, in stock when a
    variant with that value has units in an active warehouse."""
    serving = Q(stocks__warehouse__is_active=True, stocks__on_hand__gt=F("stocks__reserved"))
    rows = (
        ProductVariant.objects.filter(product__in=products.filter(is_active=True), option_values__isnull=False)
        .order_by()
        .values("product_id", "product__category_id", "product__brand", "option_values__option__code",
                "option_values__value")
        .annotate(serving=Count("stocks", filter=serving))
    )
    per_product: dict[tuple, bool] = {}
    for row in rows:
        key = (row["product__category_id"], row["product__brand"], row["product_id"],
               row["option_values__option__code"], row["option_values__value"])
        per_product[key] = per_product.get(key, False) or row["serving"] > 0
    for (category_id, brand, _product_id, name, value), in_stock in per_product.items():
        counts[(category_id, brand, 1 if in_stock else 0, name, value)] += 1


def facet_counts_refresh(*, groups: Iterable[tuple[int, str]]) -> None:
    """Recount the FacetCount rows of these (category_id, brand) groups from their products.

    Takes each group's advisory lock (PostgreSQL), in order, before reading:
    two recounts of one group run one after the other, the second seeing what
    the first committed. Called by every product write in its own transaction.
    """
    groups = sorted({(int(c), b) for c, b in groups})
    if not groups:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for key in sorted({zlib.crc32(f"{c}:{b}".encode()) & 0x7FFFFFFF for c, b in groups}):
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_FACET_LOCK_CLASS, key])
        # Delete first: it waits for a running rebuild, and the count after it reads fresh data.
        FacetCount.objects.filter(_facet_group_q(groups)).delete()
        AttributeCount.objects.filter(_facet_group_q(groups)).delete()
        products = Product.objects.filter(_facet_group_q(groups))
        FacetCount.objects.bulk_create(_facet_rows(products))
        AttributeCount.objects.bulk_create(_attribute_rows(products))


def facet_counts_refresh_for_products(*, product_ids: Iterable[int]) -> None:
    """Recount the facet groups of these products (after their stock went in or out of stock)."""
    facet_counts_refresh(groups=_facet_groups_of(product_ids))


def facet_counts_rebuild() -> int:
    """Recount every FacetCount row (after exchange rates change the price slots, or a bulk load)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Waits for group recounts in flight and holds new ones off until commit.
                cursor.execute("LOCK TABLE catalog_facetcount IN SHARE ROW EXCLUSIVE MODE")
        FacetCount.objects.all().delete()
        AttributeCount.objects.all().delete()
        rows = FacetCount.objects.bulk_create(_facet_rows(Product.objects.all()), batch_size=2000)
        AttributeCount.objects.bulk_create(_attribute_rows(Product.objects.all()), batch_size=2000)
        return len(rows)
