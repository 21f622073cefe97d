"""Variant reads: a product's variants with their options, prices and availability."""

from dataclasses import dataclass, field
from functools import cache as cache_in_process

from django.core.cache import cache
from django.db.models import F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from djmoney.money import Money

from catalog.cache import catalog_cache_key
from catalog.models import OptionValue, Product, ProductVariant, Stock
from catalog.selectors.products import LIST_DEFERRED


def default_variant_ids(products) -> dict[int, int]:
    """The default variant id of each product (by product id), one query."""
    ids = [p.pk if isinstance(p, Product) else int(p) for p in products]
    rows = (
        ProductVariant.objects.filter(product_id__in=ids)
        .order_by("product_id", "-is_default", "position", "id")
        .values_list("product_id", "pk")
    )
    found: dict[int, int] = {}
    for product_id, variant_id in rows:
        found.setdefault(product_id, variant_id)
    return found


def variants_with_product(product_id: int, *, limit: int = 2) -> list[ProductVariant]:
    """A product's first `limit` variants in order, each with its product (no list-deferred columns): one query.
    Empty for an unknown product and for one without variants."""
    rows = ProductVariant.objects.filter(product_id=product_id).select_related("product")
    return list(rows.defer(*(f"product__{name}" for name in LIST_DEFERRED))[:limit])


@cache_in_process
def _variant_available_expression():
    """Units left per variant in active warehouses, as an annotation. Built once per process (building the
    subquery costs more than compiling it): annotate() resolves a copy, never this one."""
    rows = (
        Stock.objects.filter(variant_id=OuterRef("pk"), warehouse__is_active=True, on_hand__gt=F("reserved"))
        .order_by()
        .values("variant_id")
        .annotate(total=Sum(F("on_hand") - F("reserved")))
        .values("total")[:1]
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _with_options(qs: QuerySet[ProductVariant]) -> QuerySet[ProductVariant]:
    return qs.annotate(stock_available=_variant_available_expression()).prefetch_related(
        Prefetch("option_values", queryset=OptionValue.objects.select_related("option").order_by("option__position"))
    )


def variants_by_ids(ids) -> dict[int, ProductVariant]:
    """Variants by id with `stock_available` and their option values (two queries)."""
    ids = [int(i) for i in ids]
    if not ids:
        return {}
    return {v.pk: v for v in _with_options(ProductVariant.objects.filter(pk__in=ids))}


@dataclass
class VariantInfo:
    """What a cart line or an order line needs of a variant, loaded in one query (`variants_info`)."""

    pk: int
    product_id: int
    sku: str
    price: Money | None
    stock_available: int
    options: dict[str, str] = field(default_factory=dict)
    weight_grams: int = 0  # a parcel's weight per unit (no weight entered: 0)


def variants_info(ids) -> dict[int, VariantInfo]:
    """Variants by id with their stock left and options ({"size": "M"}): one query, whatever the lines."""
    ids = [int(i) for i in ids if i]
    if not ids:
        return {}
    rows = (
        ProductVariant.objects.filter(pk__in=ids)
        .annotate(stock_available=_variant_available_expression())
        .order_by("pk", "option_values__option__position", "option_values__option_id")
        .values_list("pk", "product_id", "sku", "price", "price_currency", "stock_available",
                     "option_values__option__code", "option_values__value", "weight_grams")
    )
    found: dict[int, VariantInfo] = {}
    for pk, product_id, sku, amount, currency, available, code, value, weight in rows:
        info = found.get(pk)
        if info is None:
            price = Money(amount, currency) if amount is not None else None
            info = found[pk] = VariantInfo(pk, product_id, sku, price, available, weight_grams=weight or 0)
        if code is not None:
            info.options[code] = value
    return found


def variants_of_product(product: Product) -> list[ProductVariant]:
    """A product's variants in order, with `stock_available` and their option values.

    Two queries; one for a product without options (its one variant has none to load).
    """
    qs = ProductVariant.objects.filter(product=product).order_by("position", "id")
    if product.product_type_id is not None:
        return list(_with_options(qs))
    variants = list(qs.annotate(stock_available=_variant_available_expression()))
    for variant in variants:
        variant._prefetched_objects_cache = {"option_values": OptionValue.objects.none()}
    return variants


def variant_options(variant: ProductVariant) -> dict[str, str]:
    """{"size": "M", "colour": "Red"} from prefetched option values, in the options' order."""
    return {value.option.code: value.value for value in variant.option_values.all()}


def variant_label(variant: ProductVariant) -> str:
    """Its option values as shoppers read them ("M / Red", translated, in the options' order); one query."""
    values = variant.option_values.select_related("option").order_by("option__position", "option_id")
    return " / ".join(value.display for value in values)


def variant_price(variant: ProductVariant, product: Product):
    """The variant's own price, else its product's."""
    return variant.price if variant.price is not None else product.price


# A sold-out variant is asked for its alternatives by every buyer who comes too late (a flash sale's
# hundreds of 409s): they are kept this long, under the catalog version. Their stock may lag by as
# much; an alternative that sold out meanwhile is refused at its own checkout like any other.
ALTERNATIVES_TTL = 30


def variant_alternatives(*, variant_id: int, limit: int = 3) -> list[dict]:
    """Up to `limit` things in stock instead of a short variant: its product's other variants first,
    then variants of other active products of the same category (best rated first). Cached
    ALTERNATIVES_TTL seconds per variant."""
    key = catalog_cache_key("alternatives", variant_id, limit)
    found = cache.get(key)
    if found is None:
        found = _alternatives(variant_id=variant_id, limit=limit)
        cache.set(key, found, ALTERNATIVES_TTL)
    return found


def _alternatives(*, variant_id: int, limit: int) -> list[dict]:
    variant = ProductVariant.objects.select_related("product").filter(pk=variant_id).first()
    if variant is None:
        return []
    siblings = _with_options(
        ProductVariant.objects.filter(product_id=variant.product_id).exclude(pk=variant_id)
    ).order_by("position", "id")
    found = [v for v in siblings if v.stock_available > 0][:limit]
    if len(found) < limit:
        others = _with_options(
            ProductVariant.objects.filter(
                product__category_id=variant.product.category_id, product__is_active=True
            ).exclude(product_id=variant.product_id).select_related("product")
        ).order_by("-product__rating_avg", "product_id", "position", "id")[:50]
        seen: set[int] = set()
        for other in others:
            if other.stock_available > 0 and other.product_id not in seen:
                seen.add(other.product_id)
                found.append(other)
            if len(found) >= limit:
                break
    return [
        {"variant": v.pk, "sku": v.sku, "product": v.product_id, "options": variant_options(v),
         "available": v.stock_available}
        for v in found
    ]
