"""Every write of the catalog: products, images, stock, purchases, reviews, recommendations.

Stock counters change only here, each with one guarded UPDATE (never a
read-modify-write in Python) and one append-only StockMovement. Lock order:
stock rows are always touched in product-id order, so two checkouts can never
deadlock on each other.
"""

import csv
import io
import zlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import PurePath

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify
from django.utils.translation import gettext as _
from djmoney.contrib.exchange.models import ExchangeBackend
from djmoney.money import Money
from PIL import Image

from catalog import selectors
from catalog.cache import catalog_cache_invalidate, stock_cache_invalidate
from catalog.exceptions import (
    AlreadyReviewed,
    ImportFailed,
    InvalidQuantity,
    InvalidRating,
    NotABuyer,
    OutOfStock,
    ProductNotFound,
)
from catalog.models import (
    AttributeCount,
    BoughtTogether,
    Category,
    FacetCount,
    Product,
    ProductImage,
    ProductPurchase,
    Review,
    Stock,
    StockMovement,
    StockReservation,
)
from shop.core.money import minor_unit_quantum

THUMBNAIL_SIZE = (320, 320)
CSV_FIELDS = ["sku", "slug", "name", "brand", "category", "price", "is_active", "description", "attributes"]


def _actor(actor):
    return actor if actor is not None and getattr(actor, "pk", None) else None


def _merge_lines(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sum quantities per product and sort by product id (the lock order)."""
    merged: dict[int, int] = defaultdict(int)
    for product_id, quantity in lines:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidQuantity(field="quantity")
        merged[int(product_id)] += quantity
    return sorted(merged.items())


# --- search vector ---------------------------------------------------------------

_SEARCH_VECTOR_SQL = """
UPDATE catalog_product AS p SET search_vector =
    setweight(to_tsvector('english', coalesce(p.name, '')), 'A') ||
    setweight(to_tsvector('english', coalesce(p.brand, '') || ' ' || coalesce(c.name, '')), 'B') ||
    setweight(to_tsvector('english', coalesce(p.description, '')), 'C')
FROM catalog_category AS c
WHERE c.id = p.category_id
"""


def product_search_vector_refresh(*, product_ids: Iterable[int] | None = None) -> None:
    """Recompute the stored full-text vector (PostgreSQL only; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if product_ids is None:
            cursor.execute(_SEARCH_VECTOR_SQL)
        else:
            cursor.execute(_SEARCH_VECTOR_SQL + " AND p.id = ANY(%s)", [list(product_ids)])


# --- facet counts ----------------------------------------------------------------------

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
    slots = selectors.facet_price_slots()
    slot = Case(
        *[When(price__lt=slots[i + 1], then=Value(i)) for i in range(len(slots) - 1)],
        default=Value(len(slots) - 1),
    )
    available = Case(When(selectors.in_stock_q(), then=Value(1)), default=Value(0))
    grouped = (
        products.filter(is_active=True)
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
    available = Case(When(selectors.in_stock_q(), then=Value(1)), default=Value(0))
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
    return [
        AttributeCount(category_id=c, brand=b, in_stock=bool(a), name=name, value=value, count=n)
        for (c, b, a, name, value), n in counts.items()
        if selectors.ATTRIBUTE_KEY.match(name) and 0 < len(value) <= 100
    ]


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


def _stock_flips_recount(flipped: Iterable[int]) -> None:
    """After commit, recount the facet groups of products that went in or out of stock.

    Not inside the stock transaction: the group rows are shared by many
    products, and checkouts must not queue on them.
    """
    ids = sorted(set(flipped))
    if ids:
        transaction.on_commit(partial(facet_counts_refresh_for_products, product_ids=ids), robust=True)


# --- categories and products -------------------------------------------------------


def category_create(*, name: str, parent: Category | None = None, slug: str = "", description: str = "") -> Category:
    """Add a category under `parent` (or as a root)."""
    with transaction.atomic():
        fields = {"name": name, "slug": slug or slugify(name), "description": description}
        category = Category.objects.add_child(parent, fields) if parent is not None else Category.objects.add_root(fields)
        catalog_cache_invalidate()
        return category


def category_update(*, category: Category, name: str, description: str | None = None) -> Category:
    """Rename a category; its products' search text follows."""
    with transaction.atomic():
        category.name = name
        if description is not None:
            category.description = description
        category.save(update_fields=["name", "description"])
        product_search_vector_refresh(
            product_ids=list(Product.objects.filter(category=category).values_list("id", flat=True))
        )
        catalog_cache_invalidate()
        return category


def category_delete(*, category_ids: Iterable[int]) -> int:
    """Delete categories with their subtrees (a category holding products cannot go); returns how many were asked."""
    ids = list(category_ids)
    with transaction.atomic():
        Category.objects.filter(pk__in=ids).delete()  # treebeard: descendants too, parents' numchild kept
        catalog_cache_invalidate()
        return len(ids)


def category_move(*, category: Category, target: Category, pos: str) -> Category:
    """Move a category (and its subtree) relative to `target`; the cached tree follows."""
    with transaction.atomic():
        Category.objects.move(category, target, pos=pos)
        category.refresh_from_db()
        catalog_cache_invalidate()
        return category


def _unique_slug(name: str, sku: str) -> str:
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
    on_hand: int = 0,
    actor=None,
) -> Product:
    """Create a product with its stock row (and an initial restock movement)."""
    if not isinstance(price, Money):
        price = Money(price, settings.DEFAULT_CURRENCY)
    if price.currency.code != settings.DEFAULT_CURRENCY:
        raise ImportFailed(_("Prices are kept in %(currency)s.") % {"currency": settings.DEFAULT_CURRENCY}, field="price")
    with transaction.atomic():
        product = Product.objects.create(
            sku=sku,
            slug=slug or _unique_slug(name, sku),
            name=name,
            description=description,
            brand=brand,
            category=category,
            attributes=attributes or {},
            price=price,
            is_active=is_active,
        )
        Stock.objects.create(product=product)
        if on_hand:
            stock_restock(product_id=product.pk, quantity=on_hand, actor=actor, reason="initial stock")
        product_search_vector_refresh(product_ids=[product.pk])
        facet_counts_refresh(groups=[(product.category_id, product.brand)])
        catalog_cache_invalidate()
        return product


PRODUCT_UPDATABLE = {"name", "slug", "description", "brand", "category", "attributes", "price", "is_active"}


def product_update(*, product: Product, **fields) -> Product:
    """Change product fields (price in the default currency) and keep search and caches current."""
    unknown = set(fields) - PRODUCT_UPDATABLE
    if unknown:
        raise TypeError(f"product_update got unknown fields: {sorted(unknown)}")
    price = fields.get("price")
    if price is not None and not isinstance(price, Money):
        fields["price"] = Money(price, settings.DEFAULT_CURRENCY)
    with transaction.atomic():
        # The stored row, not the instance: an admin form has already changed the instance's fields.
        before = Product.objects.filter(pk=product.pk).values("category_id", "brand", "price", "is_active").first()
        for name, value in fields.items():
            setattr(product, name, value)
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
        facet_counts_refresh(groups=_facet_groups_of(ids))
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


# --- stock -----------------------------------------------------------------------------


def _stock_available(product_id: int) -> int:
    row = Stock.objects.filter(product_id=product_id).values_list("on_hand", "reserved").first()
    return row[0] - row[1] if row else 0


def stock_reserve(
    *, lines: Iterable[tuple[int, int]], reference: str, expires_at: datetime, actor=None
) -> None:
    """Reserve every (product_id, quantity) line for `reference`, all or nothing.

    One guarded UPDATE per product, in product-id order (no deadlocks between
    concurrent checkouts); raises OutOfStock and leaves nothing behind when any
    line cannot be reserved. Call inside the order's transaction.
    """
    merged = _merge_lines(lines)
    actor = _actor(actor)
    with transaction.atomic():
        inactive = set(
            Product.objects.filter(pk__in=[pid for pid, _qty in merged], is_active=False).values_list("pk", flat=True)
        )
        for product_id, quantity in merged:
            if product_id in inactive:
                raise OutOfStock(product_id=product_id, available=0)
            # A single-table WHERE: PostgreSQL re-checks it against the row a
            # concurrent reservation just committed (a join would turn it into an
            # IN (subquery) evaluated on the old snapshot, and oversell).
            updated = Stock.objects.filter(product_id=product_id, on_hand__gte=F("reserved") + quantity).update(
                reserved=F("reserved") + quantity
            )
            if updated != 1:
                raise OutOfStock(product_id=product_id, available=_stock_available(product_id))
        StockReservation.objects.bulk_create(
            [
                StockReservation(product_id=pid, quantity=qty, reference=reference, expires_at=expires_at)
                for pid, qty in merged
            ]
        )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    product_id=pid,
                    kind=StockMovement.Kind.RESERVATION,
                    reserved_delta=qty,
                    reference=reference,
                    reason="checkout",
                    actor=actor,
                )
                for pid, qty in merged
            ]
        )
        # Rows locked by this transaction: exact. Nothing left means the product just went out of stock.
        after = Stock.objects.filter(product_id__in=[pid for pid, _qty in merged]).values_list(
            "product_id", "on_hand", "reserved"
        )
        _stock_flips_recount(pid for pid, on_hand, reserved in after if on_hand - reserved <= 0)
        stock_cache_invalidate(pid for pid, _qty in merged)


def stock_sell(*, lines: Iterable[tuple[int, int]], reference: str, actor=None) -> None:
    """Sell every (product_id, quantity) line at once, all or nothing: an order paid in the same transaction.

    A reservation that is turned into a sale before its transaction commits,
    in one guarded UPDATE per product (`on_hand - reserved >= qty`), in
    product-id order, plus one SALE movement each; raises OutOfStock and
    leaves nothing behind when any line cannot be sold. Call it as the last
    step of the order's transaction: the stock rows stay locked until commit,
    so the later they are taken, the more checkouts of a hot product commit
    per second. No savepoint of its own (one round trip less under the lock):
    an OutOfStock from it must end the caller's transaction, as it does in
    checkout.
    """
    merged = _merge_lines(lines)
    actor = _actor(actor)
    table = connection.ops.quote_name(Stock._meta.db_table)
    flipped = []
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        inactive = set(
            Product.objects.filter(pk__in=[pid for pid, _qty in merged], is_active=False).values_list("pk", flat=True)
        )
        # The reservation record, born sold (written before the stock rows are locked).
        StockReservation.objects.bulk_create(
            [
                StockReservation(
                    product_id=pid, quantity=qty, reference=reference, expires_at=now,
                    status=StockReservation.Status.SOLD,
                )
                for pid, qty in merged
            ]
        )
        with connection.cursor() as cursor:
            for product_id, quantity in merged:
                if product_id in inactive:
                    raise OutOfStock(product_id=product_id, available=0)
                # One statement: the guard, the sale and what is left. Single-table WHERE, so
                # PostgreSQL re-checks it against a row a concurrent sale just committed.
                cursor.execute(
                    f"UPDATE {table} SET on_hand = on_hand - %s "  # noqa: S608 (our table name)
                    "WHERE product_id = %s AND on_hand - reserved >= %s RETURNING on_hand - reserved",
                    [quantity, product_id, quantity],
                )
                row = cursor.fetchone()
                if row is None:
                    raise OutOfStock(product_id=product_id, available=_stock_available(product_id))
                if row[0] <= 0:
                    flipped.append(product_id)
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    product_id=pid,
                    kind=StockMovement.Kind.SALE,
                    on_hand_delta=-qty,
                    reserved_delta=0,
                    reference=reference,
                    reason="sale",
                    actor=actor,
                )
                for pid, qty in merged
            ]
        )
        _stock_flips_recount(flipped)
        stock_cache_invalidate(pid for pid, _qty in merged)


def _close_reservations(*, reference: str, status: str, actor, reason: str) -> int:
    actor = _actor(actor)
    sold = status == StockReservation.Status.SOLD
    total = 0
    released: dict[int, int] = defaultdict(int)
    with transaction.atomic(savepoint=False):
        # The row locks make a concurrent second call wait, then find nothing open.
        open_ids = list(
            StockReservation.objects.select_for_update()
            .filter(reference=reference, status=StockReservation.Status.OPEN)
            .order_by("product_id", "id")
            .values_list("id", "product_id", "quantity")
        )
        for reservation_id, product_id, quantity in open_ids:
            claimed = StockReservation.objects.filter(
                pk=reservation_id, status=StockReservation.Status.OPEN
            ).update(status=status, updated_at=timezone.now())
            if not claimed:
                continue
            if sold:
                Stock.objects.filter(product_id=product_id).update(
                    on_hand=F("on_hand") - quantity, reserved=F("reserved") - quantity
                )
            else:
                Stock.objects.filter(product_id=product_id).update(reserved=F("reserved") - quantity)
            StockMovement.objects.create(
                product_id=product_id,
                kind=StockMovement.Kind.SALE if sold else StockMovement.Kind.RELEASE,
                on_hand_delta=-quantity if sold else 0,
                reserved_delta=-quantity,
                reference=reference,
                reason=reason,
                actor=actor,
            )
            total += quantity
            released[product_id] += quantity
        if released and not sold:  # a sale takes units that were already reserved: availability stays
            after = Stock.objects.filter(product_id__in=list(released)).values_list("product_id", "on_hand", "reserved")
            _stock_flips_recount(
                pid for pid, on_hand, reserved in after if 0 < on_hand - reserved <= released[pid]
            )
        stock_cache_invalidate(released)
    return total


def stock_release(*, reference: str, actor=None, reason: str = "") -> int:
    """Release every open reservation of `reference`, exactly once; returns the units released."""
    return _close_reservations(
        reference=reference, status=StockReservation.Status.RELEASED, actor=actor, reason=reason or "released"
    )


def stock_commit_sale(*, reference: str, actor=None) -> int:
    """Turn the open reservations of `reference` into a sale, exactly once; returns the units sold."""
    return _close_reservations(reference=reference, status=StockReservation.Status.SOLD, actor=actor, reason="sale")


def stock_restock(*, product_id: int, quantity: int, actor=None, reason: str, reference: str = "") -> None:
    """Add units on hand (deliveries, returned goods)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidQuantity(field="quantity")
    with transaction.atomic():
        updated = Stock.objects.filter(product_id=product_id).update(on_hand=F("on_hand") + quantity)
        if not updated:
            if not Product.objects.filter(pk=product_id).exists():
                raise ProductNotFound()
            Stock.objects.get_or_create(product_id=product_id)
            Stock.objects.filter(product_id=product_id).update(on_hand=F("on_hand") + quantity)
        StockMovement.objects.create(
            product_id=product_id,
            kind=StockMovement.Kind.RESTOCK,
            on_hand_delta=quantity,
            reference=reference,
            reason=reason,
            actor=_actor(actor),
        )
        _stock_flips_recount([product_id])
        stock_cache_invalidate([product_id])


def stock_adjust(*, product_id: int, delta: int, actor=None, reason: str, reference: str = "") -> None:
    """Correct units on hand by `delta` (stocktake, damage); never below what is reserved."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidQuantity(field="delta")
    with transaction.atomic():
        updated = Stock.objects.filter(product_id=product_id, on_hand__gte=F("reserved") - delta).update(
            on_hand=F("on_hand") + delta
        )
        if not updated:
            raise OutOfStock(product_id=product_id, available=_stock_available(product_id))
        StockMovement.objects.create(
            product_id=product_id,
            kind=StockMovement.Kind.ADJUSTMENT,
            on_hand_delta=delta,
            reference=reference,
            reason=reason,
            actor=_actor(actor),
        )
        _stock_flips_recount([product_id])
        stock_cache_invalidate([product_id])


# --- purchases, reviews, recommendations -------------------------------------------------


def product_purchase_record(*, user, lines: Iterable[tuple[int, int]], reference: str) -> None:
    """Record that `user` bought these products in order `reference`; idempotent per (reference, product)."""
    merged = _merge_lines(lines)
    with transaction.atomic(savepoint=False):
        ProductPurchase.objects.bulk_create(
            [ProductPurchase(user=user, product_id=pid, quantity=qty, reference=reference) for pid, qty in merged],
            ignore_conflicts=True,
        )


def review_create(*, user, product: Product, rating: int, title: str = "", body: str = "") -> Review:
    """Add the buyer's one review of a product and update its rating average and count.

    Takes the product row lock so concurrent reviews compute the aggregate in turn.
    """
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRating(field="rating")
    with transaction.atomic():
        if not ProductPurchase.objects.filter(user=user, product=product).exists():
            raise NotABuyer(field="product")
        Product.objects.select_for_update().filter(pk=product.pk).values_list("pk", flat=True).first()
        if Review.objects.filter(user=user, product=product).exists():
            raise AlreadyReviewed()
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    user=user, product=product, rating=rating, title=title.strip(), body=body.strip()
                )
        except IntegrityError:
            raise AlreadyReviewed()
        product.rating_avg, product.rating_count = _rating_refresh(product_id=product.pk)
        return review


def _rating_refresh(*, product_id: int) -> tuple[Decimal, int]:
    totals = Review.objects.filter(product_id=product_id).aggregate(total=Sum("rating"), count=Count("id"))
    count = totals["count"] or 0
    average = (Decimal(totals["total"] or 0) / count).quantize(Decimal("0.01")) if count else Decimal(0)
    Product.objects.filter(pk=product_id).update(rating_avg=average, rating_count=count)
    catalog_cache_invalidate()
    return average, count


def review_delete(*, review_id: int) -> None:
    """Remove a review (moderation) and recompute its product's rating. Takes the product row lock."""
    with transaction.atomic():
        review = Review.objects.filter(pk=review_id).first()
        if review is None:
            return
        Product.objects.select_for_update().filter(pk=review.product_id).values_list("pk", flat=True).first()
        review.delete()
        _rating_refresh(product_id=review.product_id)


_BOUGHT_TOGETHER_SQL = """
INSERT INTO catalog_boughttogether (product_id, other_id, count)
SELECT a.product_id, b.product_id, COUNT(DISTINCT a.reference)
FROM catalog_productpurchase AS a
JOIN catalog_productpurchase AS b ON a.reference = b.reference AND a.product_id <> b.product_id
GROUP BY a.product_id, b.product_id
"""


def bought_together_compute() -> int:
    """Recompute the co-purchase table from ProductPurchase (orders sharing a reference)."""
    with transaction.atomic():
        BoughtTogether.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(_BOUGHT_TOGETHER_SQL)
        catalog_cache_invalidate()
        return BoughtTogether.objects.count()


# --- exchange rates ----------------------------------------------------------------------


def _rates_cache_clear() -> None:
    keys = [
        f"djmoney:get_rate:{source}:{target}:{import_string(settings.EXCHANGE_BACKEND).name}"
        for source in settings.CURRENCIES
        for target in settings.CURRENCIES
    ]
    cache.delete_many(keys)


def exchange_backend() -> ExchangeBackend:
    """The database row of the shop's exchange backend (created on first use), owner of every rate."""
    backend, _created = ExchangeBackend.objects.get_or_create(
        name=import_string(settings.EXCHANGE_BACKEND).name, defaults={"base_currency": settings.BASE_CURRENCY}
    )
    return backend


def exchange_rates_changed() -> None:
    """Make edited, added or deleted exchange rates take effect at once.

    Forgets djmoney's cached rates (now and again after commit, so no reader
    caches the old ones meanwhile), recounts the facet price slots (they follow
    the rates) and makes cached catalog pages stale. Every path that changes
    rates calls it: the rates file loader and the admin (edit, delete, bulk delete).
    """
    with transaction.atomic():
        _rates_cache_clear()
        transaction.on_commit(_rates_cache_clear)
        facet_counts_rebuild()
        catalog_cache_invalidate()


def exchange_rates_load() -> None:
    """Load the exchange rates file into djmoney's rate tables."""
    with transaction.atomic():
        import_string(settings.EXCHANGE_BACKEND)().update_rates(base_currency=settings.BASE_CURRENCY)
        exchange_rates_changed()


# --- CSV import ----------------------------------------------------------------------


def _parse_bool(value: str) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}


def _import_row(row: dict, line_no: int, categories: dict) -> tuple[str, str, dict]:
    """(sku, slug, product fields) of one CSV row; ImportFailed naming the row and the column at fault."""
    import json

    def fail(column: str, problem: str):
        raise ImportFailed(
            _("Row %(line)s, column %(column)s: %(problem)s") % {"line": line_no, "column": column, "problem": problem},
            field="file",
        )

    sku = (row.get("sku") or "").strip()
    if not sku:
        fail("sku", _("the SKU is empty."))
    if len(sku) > Product._meta.get_field("sku").max_length:
        fail("sku", _("the SKU is too long."))
    name = (row.get("name") or "").strip()
    if not name:
        fail("name", _("the name is empty."))
    if len(name) > Product._meta.get_field("name").max_length:
        fail("name", _("the name is too long."))
    brand = (row.get("brand") or "").strip()
    if len(brand) > Product._meta.get_field("brand").max_length:
        fail("brand", _("the brand is too long."))
    slug = (row.get("slug") or "").strip()
    if slug and (slugify(slug) != slug or len(slug) > Product._meta.get_field("slug").max_length):
        fail("slug", _("use lower-case letters, digits and hyphens only."))
    category = categories.get((row.get("category") or "").strip())
    if category is None:
        fail("category", _("no category has this slug."))
    try:
        price = Decimal((row.get("price") or "").strip())
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price < 0:
        fail("price", _("not a price (a number of at least 0)."))
    field = Product._meta.get_field("price")
    if price != price.quantize(minor_unit_quantum(settings.DEFAULT_CURRENCY)) or price.adjusted() >= (
        field.max_digits - field.decimal_places
    ):
        fail("price", _("too many digits for a price in %(currency)s.") % {"currency": settings.DEFAULT_CURRENCY})
    try:
        attributes = json.loads(row.get("attributes") or "{}")
    except ValueError:
        attributes = None
    if not isinstance(attributes, dict):
        fail("attributes", _("not a JSON object."))
    fields = {
        "name": name,
        "brand": brand,
        "category": category,
        "price": Money(price, settings.DEFAULT_CURRENCY),
        "description": row.get("description") or "",
        "attributes": attributes,
        "is_active": _parse_bool(row.get("is_active", "1")),
    }
    return sku, slug, fields


def products_import_csv(*, data: bytes | str, actor=None) -> dict:
    """Create or update products from CSV (columns as in the export); every row is checked first, all rows or none."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ImportFailed(_("The file is not UTF-8 text."), field="file") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = {"sku", "name", "category", "price"} - set(reader.fieldnames or [])
    if missing:
        raise ImportFailed(_("Missing columns: %(columns)s.") % {"columns": ", ".join(sorted(missing))}, field="file")
    categories = {c.slug: c for c in Category.objects.all()}
    parsed = []
    seen_skus: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        sku, slug, fields = _import_row(row, line_no, categories)
        if sku in seen_skus:
            raise ImportFailed(
                _("Row %(line)s, column sku: the SKU is also on row %(other)s.") % {"line": line_no, "other": seen_skus[sku]},
                field="file",
            )
        seen_skus[sku] = line_no
        parsed.append((line_no, sku, slug, fields))
    existing = {p.sku: p for p in Product.objects.filter(sku__in=list(seen_skus))}
    rows = []
    seen_slugs: dict[str, int] = {}
    for line_no, sku, slug, fields in parsed:
        # A blank slug keeps an existing product's slug, or makes one for a new product.
        product = existing.get(sku)
        slug = slug or (product.slug if product is not None else _unique_slug(fields["name"], sku))
        if slug in seen_slugs:
            raise ImportFailed(
                _("Row %(line)s, column slug: the slug is also on row %(other)s.")
                % {"line": line_no, "other": seen_slugs[slug]},
                field="file",
            )
        seen_slugs[slug] = line_no
        rows.append((line_no, sku, slug, fields))
    taken = dict(
        Product.objects.filter(slug__in=list(seen_slugs)).exclude(sku__in=list(seen_skus)).values_list("slug", "sku")
    )
    for line_no, _sku, slug, _fields in rows:
        if slug in taken:
            raise ImportFailed(
                _("Row %(line)s, column slug: product %(other)s already has this slug.")
                % {"line": line_no, "other": taken[slug]},
                field="file",
            )
    created = updated = 0
    current = 0
    try:
        with transaction.atomic():
            for line_no, sku, slug, fields in rows:
                current = line_no
                product = existing.get(sku)
                if product is None:
                    product_create(sku=sku, slug=slug, actor=actor, **fields)
                    created += 1
                else:
                    product_update(product=product, slug=slug, **fields)
                    updated += 1
    except IntegrityError as exc:  # a clash the checks above cannot see (e.g. two slugs swapped)
        raise ImportFailed(
            _("Row %(line)s clashes with another product (SKU or slug).") % {"line": current}, field="file"
        ) from exc
    return {"created": created, "updated": updated}
