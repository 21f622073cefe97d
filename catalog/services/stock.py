"""Stock writes: reserve, sell, release, restock, adjust.

Stock counters change only here, each with one guarded UPDATE (never a
read-modify-write in Python) and one append-only StockMovement. Lock order:
stock rows are always touched in product-id order, so two checkouts can never
deadlock on each other.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog.cache import stock_cache_invalidate
from catalog.exceptions import InvalidQuantity, OutOfStock, ProductNotFound
from catalog.models import Product, Stock, StockMovement, StockReservation
from catalog.services.facets import facet_counts_refresh_for_products


def _actor(actor):
    return actor if actor is not None and getattr(actor, "pk", None) else None


def product_lines_merge(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sum quantities per product and sort by product id (the lock order)."""
    merged: dict[int, int] = defaultdict(int)
    for product_id, quantity in lines:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidQuantity(field="quantity")
        merged[int(product_id)] += quantity
    return sorted(merged.items())


def _stock_flips_recount(flipped: Iterable[int]) -> None:
    """After commit, recount the facet groups of products that went in or out of stock.

    Not inside the stock transaction: the group rows are shared by many
    products, and checkouts must not queue on them.
    """
    ids = sorted(set(flipped))
    if ids:
        transaction.on_commit(partial(facet_counts_refresh_for_products, product_ids=ids), robust=True)


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
    merged = product_lines_merge(lines)
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
    merged = product_lines_merge(lines)
    actor = _actor(actor)
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
        flipped = _stock_take_sold(merged, inactive)
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


def _stock_take_sold(merged: list[tuple[int, int]], inactive: set[int]) -> list[int]:
    """Take each line's units off hand, guarded, in product-id order; the ids left with nothing to reserve."""
    table = connection.ops.quote_name(Stock._meta.db_table)
    flipped = []
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
    return flipped


def _close_reservations(*, reference: str, status: StockReservation.Status, actor, reason: str) -> int:
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
