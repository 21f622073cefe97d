"""Stock reads: what is left to reserve (per product, per variant), the movements, stock of a page of products.

"Available" counts only active warehouses: a warehouse switched off sells nothing.
"""

from functools import cache

from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from djmoney.money import Money

from catalog.cache import stock_tokens
from catalog.models import Product, ProductVariant, Stock, StockMovement

AVAILABLE_ATTR = "stock_available"


def _serving_rows() -> QuerySet[Stock]:
    """Stock rows with something left to reserve, in active warehouses."""
    return Stock.objects.filter(on_hand__gt=F("reserved"), warehouse__is_active=True)


@cache
def available_expression() -> Coalesce:
    """Units left to reserve of the outer product (annotate a Product queryset with it). Built once per
    process (building the subquery costs more than compiling it): annotate() resolves a copy, never this."""
    total = (
        _serving_rows()
        .filter(product_id=OuterRef("pk"))
        .order_by()
        .values("product_id")
        .annotate(total=Sum(F("on_hand") - F("reserved")))
        .values("total")[:1]
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def with_available(qs: QuerySet[Product]) -> QuerySet[Product]:
    """The products with `stock_available` (see `product_available`) in the same query."""
    return qs.annotate(**{AVAILABLE_ATTR: available_expression()})


def product_available(product: Product) -> int:
    """Units of the product that can still be reserved, over its variants and active warehouses."""
    value = getattr(product, AVAILABLE_ATTR, None)
    if value is None:
        value = products_available([product.pk]).get(product.pk, 0)
        setattr(product, AVAILABLE_ATTR, value)
    return max(value, 0)


def products_available(product_ids) -> dict[int, int]:
    """Units left to reserve per product id (missing: none)."""
    rows = (
        _serving_rows().filter(product_id__in=list(product_ids)).values("product_id")
        .annotate(total=Sum(F("on_hand") - F("reserved"))).order_by()
    )
    return {row["product_id"]: row["total"] for row in rows}


def variants_available(variant_ids) -> dict[int, int]:
    """Units left to reserve per variant id (missing: none)."""
    rows = (
        _serving_rows().filter(variant_id__in=list(variant_ids)).values("variant_id")
        .annotate(total=Sum(F("on_hand") - F("reserved"))).order_by()
    )
    return {row["variant_id"]: row["total"] for row in rows}


def stock_movements_for(*, product_id: int) -> QuerySet[StockMovement]:
    """The product's stock movements (all variants and warehouses), oldest first."""
    return StockMovement.objects.filter(product_id=product_id).order_by("id")


def in_stock_q() -> Q:
    """Products with something left to reserve in an active warehouse."""
    return Q(pk__in=_serving_rows().values("product_id"))


def products_attach_stock(products: list[Product]) -> dict[str, str]:
    """Load the current stock and "from" price of `products` (one query); return the stock tokens it is current for.

    Sets `stock_available` (see `product_available`), `price_from` (the
    lowest price over the product's variants, own or inherited) and `variant_count`. The tokens
    are read first: a cached answer built from this stock is then never
    stored under tokens newer than the stock it shows (catalog.cache).
    """
    if not products:
        return {}
    tokens = stock_tokens(p.pk for p in products)
    serving = Q(stocks__warehouse__is_active=True, stocks__on_hand__gt=F("stocks__reserved"))
    rows = (
        ProductVariant.objects.filter(product_id__in=[p.pk for p in products])
        .order_by()
        .values("product_id")
        .annotate(
            available=Sum(
                Case(When(serving, then=F("stocks__on_hand") - F("stocks__reserved")), default=Value(0)),
                output_field=IntegerField(),
            ),
            min_own=Min("price"),
            inherits=Count("pk", filter=Q(price__isnull=True)),
            variant_count=Count("pk", distinct=True),
        )
    )
    found = {row["product_id"]: row for row in rows}
    for product in products:
        row = found.get(product.pk, {"available": 0, "min_own": None, "inherits": 1, "variant_count": 1})
        product.variant_count = row["variant_count"]
        setattr(product, AVAILABLE_ATTR, row["available"] or 0)
        prices = [product.price] if row["inherits"] else []
        if row["min_own"] is not None:
            prices.append(Money(row["min_own"], product.price.currency))
        product.price_from = min(prices, key=lambda m: m.amount) if prices else product.price
    return tokens


def stock_report_rows(*, sku: str = "") -> list[dict]:
    """Per variant and warehouse: sku, warehouse code, on_hand, reserved, available, committed (sold, awaiting
    shipment) and physical (on_hand + committed: the units in the building); ordered by sku, warehouse."""
    qs = Stock.objects.select_related("variant", "warehouse").order_by("variant__sku", "warehouse__code")
    if sku:
        qs = qs.filter(variant__sku=sku)
    return [
        {
            "sku": s.variant.sku,
            "warehouse": s.warehouse.code,
            "warehouse_active": s.warehouse.is_active,
            "on_hand": s.on_hand,
            "reserved": s.reserved,
            "available": s.on_hand - s.reserved,
            "committed": s.committed,
            "physical": s.on_hand + s.committed,
        }
        for s in qs
    ]
