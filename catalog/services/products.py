"""Product writes: create, update, (de)activate, images; search text, facet counts and caches follow."""

import io
from collections.abc import Iterable
from decimal import Decimal
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from djmoney.money import Money
from PIL import Image

from catalog.cache import catalog_cache_invalidate
from catalog.exceptions import ImportFailed
from catalog.models import Category, Product, ProductImage, ProductVariant, Stock
from catalog.services.facets import facet_counts_refresh, facet_counts_refresh_for_products
from catalog.services.search import product_search_vector_refresh
from catalog.services.stock import stock_restock
from catalog.services.warehouses import warehouse_default
from catalog.translation import in_default_language, localized_field, localized_fields

THUMBNAIL_SIZE = (320, 320)


def product_slug_for(name: str, sku: str) -> str:
    """The slug a product gets when none is given: its name and SKU."""
    base = slugify(name)[:180] or "product"
    slug = f"{base}-{slugify(sku)}"[:220]
    return slug


def product_create(
    *,
    sku: str,
    name: str,
    category: Category,
    price: Money | Decimal,
    slug: str = "",
    description: str = "",
    brand: str = "",
    attributes: dict | None = None,
    is_active: bool = True,
    is_gift_card: bool = False,
    on_hand: int = 0,
    actor=None,
    translations: dict[str, str] | None = None,
) -> Product:
    """Create a product with its default variant (same SKU), its stock row in the default warehouse
    (and an initial restock movement there). `name` and `description` are the English text (the
    fallback), whatever language is active; `translations` the others ({"name_de": ...})."""
    if not isinstance(price, Money):
        price = Money(price, settings.DEFAULT_CURRENCY)
    if price.currency.code != settings.DEFAULT_CURRENCY:
        raise ImportFailed(_("Prices are kept in %(currency)s.") % {"currency": settings.DEFAULT_CURRENCY}, field="price")
    with transaction.atomic():
        with in_default_language():
            product = Product.objects.create(
                sku=sku,
                slug=slug or product_slug_for(name, sku),
                **_translated({"name": name, "description": description, **(translations or {})}),
                brand=brand,
                category=category,
                attributes=attributes or {},
                price=price,
                is_active=is_active,
                is_gift_card=is_gift_card,
            )
        variant = ProductVariant.objects.create(product=product, sku=sku, is_default=True)
        Stock.objects.create(product=product, variant=variant, warehouse=warehouse_default())
        if on_hand:
            stock_restock(variant_id=variant.pk, quantity=on_hand, actor=actor, reason="initial stock")
        product_search_vector_refresh(product_ids=[product.pk])
        facet_counts_refresh(groups=[(product.category_id, product.brand)])
        catalog_cache_invalidate()
        return product


PRODUCT_TRANSLATED = ("name", "description")
PRODUCT_UPDATABLE = {
    "name", "slug", "description", "brand", "category", "attributes", "price", "is_active", "is_gift_card",
    *[column for field in PRODUCT_TRANSLATED for column in localized_fields(field)],
}


def _translated(fields: dict) -> dict:
    """`name` and `description` as the English columns (never the active language's): a service's
    meaning does not depend on who calls it; name_de and the like pass as they are."""
    return {
        (localized_field(key, "en") if key in PRODUCT_TRANSLATED else key): value for key, value in fields.items()
    }


def product_update(*, product: Product, **fields) -> Product:
    """Change product fields (price in the default currency) and keep search and caches current.
    `name`/`description` are the English text; `name_de` etc. the translations (empty: English shows)."""
    unknown = set(fields) - PRODUCT_UPDATABLE
    if unknown:
        raise TypeError(f"product_update got unknown fields: {sorted(unknown)}")
    price = fields.get("price")
    if price is not None and not isinstance(price, Money):
        fields["price"] = Money(price, settings.DEFAULT_CURRENCY)
    with transaction.atomic():
        # The stored row, not the instance: an admin form has already changed the instance's fields.
        before = Product.objects.filter(pk=product.pk).values("category_id", "brand", "price", "is_active").first()
        for name, value in _translated(fields).items():
            setattr(product, name, value)
        with in_default_language():
            product.save()
        product_search_vector_refresh(product_ids=[product.pk])
        after = {"category_id": product.category_id, "brand": product.brand, "price": product.price.amount,
                 "is_active": product.is_active}
        if before != after:
            groups = {(after["category_id"], after["brand"])}
            if before is not None:
                groups.add((before["category_id"], before["brand"]))
            facet_counts_refresh(groups=groups)
        catalog_cache_invalidate()
        return product


def product_set_active(*, product_ids: Iterable[int], is_active: bool) -> int:
    """Activate or deactivate products in bulk; returns how many changed."""
    with transaction.atomic():
        ids = list(
            Product.objects.filter(pk__in=list(product_ids)).exclude(is_active=is_active).values_list("pk", flat=True)
        )
        changed = Product.objects.filter(pk__in=ids).update(is_active=is_active, updated_at=timezone.now())
        facet_counts_refresh_for_products(product_ids=ids)
        catalog_cache_invalidate()
        return changed


def _thumbnail_bytes(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        img.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=82)
        return out.getvalue()


def product_image_add(*, product: Product, data: bytes, filename: str, alt: str = "") -> ProductImage:
    """Store an image with a generated thumbnail; the first image becomes the product's thumbnail."""
    try:
        thumb = _thumbnail_bytes(data)
    except (OSError, Image.DecompressionBombError) as exc:
        raise ImportFailed(_("The file is not an image we can read."), field="image") from exc
    stem = PurePath(filename).stem or product.slug
    with transaction.atomic():
        position = product.images.count()
        image = ProductImage(product=product, alt=alt or product.name, position=position)
        image.image.save(filename, ContentFile(data), save=False)
        image.thumbnail.save(f"{stem}_thumb.jpg", ContentFile(thumb), save=False)
        image.save()
        if not product.thumbnail:
            product.thumbnail.name = image.thumbnail.name
            Product.objects.filter(pk=product.pk).update(thumbnail=image.thumbnail.name)
        catalog_cache_invalidate()
        return image


def product_image_delete(*, image: ProductImage) -> None:
    """Remove a product image; a product whose thumbnail it was takes the next image's (or none)."""
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=image.product_id)
        image.delete()
        if product.thumbnail and product.thumbnail.name == image.thumbnail.name:
            following = ProductImage.objects.filter(product=product).exclude(thumbnail="").order_by("position", "id")
            replacement = following.values_list("thumbnail", flat=True).first() or ""
            Product.objects.filter(pk=product.pk).update(thumbnail=replacement, updated_at=timezone.now())
        catalog_cache_invalidate()

