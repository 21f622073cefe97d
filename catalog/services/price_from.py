"""The stored "from" price (`Product.price_from_base`): refreshed after every write of a price.

Price filters and facets read the column (indexed with `is_active`) instead of
each matching product's variants. It follows the product's price and its
variants' prices, so every write of either refreshes it: the services and
admin save through the model (the receivers below), bulk writers
(`seed_catalog`) call `product_price_from_refresh` themselves.
"""

from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save

from catalog.models import Product, ProductVariant
from catalog.selectors.prices import price_from_computed_expression


def product_price_from_refresh(*, product_ids: Iterable[int] | None = None) -> int:
    """Recompute the stored "from" price of these products (all when None), in one UPDATE."""
    products = (
        Product.objects.all() if product_ids is None else Product.objects.filter(pk__in=list(product_ids))
    )
    return products.update(price_from_base=price_from_computed_expression())


def _product_saved(sender, instance: Product, update_fields=None, raw=False, **kwargs) -> None:
    if raw or (update_fields is not None and "price" not in update_fields):
        return
    product_price_from_refresh(product_ids=[instance.pk])


def _variant_changed(sender, instance: ProductVariant, raw=False, **kwargs) -> None:
    if raw:
        return
    product_price_from_refresh(product_ids=[instance.product_id])


def price_from_receivers_connect() -> None:
    post_save.connect(_product_saved, sender=Product, dispatch_uid="catalog.price_from.product")
    post_save.connect(
        _variant_changed, sender=ProductVariant, dispatch_uid="catalog.price_from.variant_saved"
    )
    post_delete.connect(
        _variant_changed, sender=ProductVariant, dispatch_uid="catalog.price_from.variant_deleted"
    )
