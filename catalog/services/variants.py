"""Product types, options and variants: a variant's option values must be its product type's, one per option."""

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.cache import catalog_cache_invalidate
from catalog.exceptions import VariantInvalid
from catalog.models import OptionValue, Product, ProductOption, ProductType, ProductVariant, Stock
from catalog.services.facets import facet_counts_refresh
from catalog.services.warehouses import warehouse_default


def product_type_create(*, name: str, options: dict[str, list[str]]) -> ProductType:
    """A product type with its options and their values in order: {"size": ["S", "M"], "colour": [...]}."""
    with transaction.atomic():
        product_type = ProductType.objects.create(name=name)
        for position, (code, values) in enumerate(options.items()):
            option = ProductOption.objects.create(
                product_type=product_type, code=code, name=code.capitalize(), position=position
            )
            OptionValue.objects.bulk_create(
                [OptionValue(option=option, value=value, position=i) for i, value in enumerate(values)]
            )
        return product_type


def _option_values_for(product: Product, options: dict[str, str]) -> list[OptionValue]:
    """The OptionValue rows for {"size": "M"}: every option of the product's type, each with one known value."""
    if product.product_type_id is None:
        if options:
            raise VariantInvalid(_("This product has no options."), field="options")
        return []
    type_options = {o.code: o for o in ProductOption.objects.filter(product_type_id=product.product_type_id)}
    unknown = set(options) - set(type_options)
    if unknown:
        raise VariantInvalid(_("Unknown option %(name)r.") % {"name": sorted(unknown)[0]}, field="options")
    missing = set(type_options) - set(options)
    if missing:
        raise VariantInvalid(_("Choose a value for %(name)r.") % {"name": sorted(missing)[0]}, field="options")
    values = []
    for code, value in options.items():
        found = OptionValue.objects.filter(option=type_options[code], value=value).first()
        if found is None:
            raise VariantInvalid(
                _("%(value)r is not a value of option %(name)r.") % {"value": value, "name": code},
                field=f"options.{code}",
            )
        values.append(found)
    return values


def variant_create(
    *, product: Product, sku: str, options: dict[str, str] | None = None, price: Money | Decimal | None = None,
    weight_grams: int | None = None, is_default: bool = False,
) -> ProductVariant:
    """A variant of `product` with its option values (checked against the product type) and an empty stock row.

    Two variants of one product with the same options are refused (field "options").
    """
    options = options or {}
    if price is not None and not isinstance(price, Money):
        price = Money(price, settings.DEFAULT_CURRENCY)
    values = _option_values_for(product, options)
    wanted = {v.pk for v in values}
    with transaction.atomic():
        for existing in ProductVariant.objects.filter(product=product).prefetch_related("option_values"):
            if values and {v.pk for v in existing.option_values.all()} == wanted:
                raise VariantInvalid(_("A variant with these options exists."), field="options")
        try:
            with transaction.atomic():
                variant = ProductVariant.objects.create(
                    product=product, sku=sku, price=price, weight_grams=weight_grams, is_default=is_default,
                    position=ProductVariant.objects.filter(product=product).count(),
                )
        except IntegrityError:
            raise VariantInvalid(_("This SKU is taken."), field="sku") from None
        variant.option_values.set(values)
        Stock.objects.create(product=product, variant=variant, warehouse=warehouse_default())
        facet_counts_refresh(groups=[(product.category_id, product.brand)])
        catalog_cache_invalidate()
        return variant


def product_variants_create(
    *, product: Product, product_type: ProductType, variants: list[dict]
) -> list[ProductVariant]:
    """Give a product made without options its type and variants: [{"sku", "options", "price"?}, ...].

    The product's one option-less variant becomes the first of them (its
    stock and history stay with it); the others are made by variant_create.
    """
    with transaction.atomic():
        existing = list(ProductVariant.objects.select_for_update().filter(product=product))
        if len(existing) != 1 or existing[0].option_values.exists():
            raise VariantInvalid(_("This product has variants already."), field="variants")
        Product.objects.filter(pk=product.pk).update(product_type=product_type)
        product.product_type = product_type
        first, made = existing[0], []
        spec = variants[0]
        first.option_values.set(_option_values_for(product, spec.get("options", {})))
        first.sku, first.is_default = spec["sku"], True
        price = spec.get("price")
        first.price = Money(price, settings.DEFAULT_CURRENCY) if price is not None else None
        try:
            with transaction.atomic():
                first.save()
        except IntegrityError:
            raise VariantInvalid(_("This SKU is taken."), field="sku") from None
        made.append(first)
        for spec in variants[1:]:
            made.append(
                variant_create(product=product, sku=spec["sku"], options=spec.get("options"), price=spec.get("price"))
            )
        # The first variant's options and price count too (price slot, option facets).
        facet_counts_refresh(groups=[(product.category_id, product.brand)])
        catalog_cache_invalidate()
        return made
