"""Stock writes: reserve, sell, release, restock, adjust, transfer, per variant and warehouse.

Stock counters change only here, each with one guarded UPDATE (never a
read-modify-write in Python) and one append-only StockMovement. A unit's way:
restocked on hand -> reserved (still on hand) -> sold: off hand into
`committed` -> shipped: out of committed (stock_ship), or back on hand when
the sale is cancelled before it ships (stock_sale_cancel). Lock order:
stock rows are always taken in (variant id, warehouse id) order, so two
checkouts can never deadlock on each other; an allocation is planned first
(plain reads), then taken in that order.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from catalog.cache import stock_cache_invalidate
from catalog.exceptions import InvalidQuantity, OutOfStock, ProductNotFound, StockInvalid, StockNotCommitted
from catalog.models import ProductVariant, Stock, StockMovement, StockReservation, Warehouse
from catalog.services.facets import facet_counts_refresh_for_products
from catalog.services.warehouses import Candidate, allocation_plan, warehouse_default

# A planned allocation that a concurrent checkout took first is planned again, this often.
PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class Allocation:
    """Units of a variant taken from one warehouse for one reference."""

    variant_id: int
    warehouse_id: int
    quantity: int
    product_id: int = 0


class _Taken(Exception):
    """A planned row was taken by a concurrent checkout: plan again."""


def _actor(actor):
    return actor if actor is not None and getattr(actor, "pk", None) else None


def product_lines_merge(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sum quantities per id (variant or product) and sort by id (the lock order)."""
    merged: dict[int, int] = defaultdict(int)
    for item_id, quantity in lines:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidQuantity(field="quantity")
        merged[int(item_id)] += quantity
    return sorted(merged.items())


def _stock_flips_recount(flipped: Iterable[int]) -> None:
    """After commit, recount the facet groups of products that went in or out of stock.

    Not inside the stock transaction: the group rows are shared by many
    products, and checkouts must not queue on them.
    """
    ids = sorted(set(flipped))
    if ids:
        transaction.on_commit(partial(facet_counts_refresh_for_products, product_ids=ids), robust=True)


def _variants_available(variant_ids: Iterable[int]) -> dict[int, int]:
    """Units left to reserve per variant in active warehouses."""
    rows = (
        Stock.objects.filter(variant_id__in=list(variant_ids), warehouse__is_active=True, on_hand__gt=F("reserved"))
        .values("variant_id")
        .annotate(total=Sum(F("on_hand") - F("reserved")))
    )
    return {row["variant_id"]: row["total"] for row in rows}


def _recount_after(variants: dict[int, int], *, gone_out: bool, delta: dict[int, int] | None = None) -> None:
    """Queue the facet recount of products with a variant that just went out of (or back in) stock.

    `variants`: variant id -> product id; `delta`: units added per variant.
    Per variant, since the option facets (size=M) count variants in stock.
    """
    if not variants:
        return
    left = _variants_available(variants)
    if gone_out:
        _stock_flips_recount(pid for vid, pid in variants.items() if left.get(vid, 0) <= 0)
    else:
        _stock_flips_recount(
            pid for vid, pid in variants.items() if 0 < left.get(vid, 0) <= (delta or {}).get(vid, 0)
        )


def _candidates(variant_ids: list[int], country: str) -> tuple[dict[int, list[Candidate]], dict[int, int], set[int]]:
    """The stock rows that may serve each variant: active warehouses shipping to `country`.

    Also each variant's product and the variants whose product is not sold;
    one query (a second only for variants with no row in an active warehouse).
    """
    rows = Stock.objects.filter(variant_id__in=variant_ids, warehouse__is_active=True).values_list(
        "id", "variant_id", "warehouse_id", "on_hand", "reserved", "warehouse__priority", "warehouse__country",
        "warehouse__ships_to", "product_id", "product__is_active",
    )
    by_variant: dict[int, list[Candidate]] = defaultdict(list)
    products: dict[int, int] = {}
    unsold: set[int] = set()
    for sid, vid, wid, on_hand, reserved, priority, wcountry, ships_to, pid, sold in rows:
        products[vid] = pid
        if not sold:
            unsold.add(vid)
        if ships_to and country and country.upper() not in ships_to:
            continue
        by_variant[vid].append(Candidate(sid, vid, wid, on_hand - reserved, priority, wcountry))
    missing = [vid for vid in variant_ids if vid not in products]
    if missing:
        for vid, pid, sold in ProductVariant.objects.filter(pk__in=missing).values_list(
            "pk", "product_id", "product__is_active"
        ):
            products[vid] = pid
            if not sold:
                unsold.add(vid)
    return by_variant, products, unsold


def _plan(merged, by_variant, products, unsold) -> list[tuple[Candidate, int]]:
    plan = []
    for variant_id, quantity in merged:
        if variant_id not in products:
            raise ProductNotFound(field="variant")
        if variant_id in unsold:
            raise OutOfStock(product_id=products[variant_id], variant_id=variant_id, requested=quantity, available=0)
        taken = allocation_plan(by_variant.get(variant_id, []), quantity)
        if not taken:
            available = sum(max(c.available, 0) for c in by_variant.get(variant_id, []))
            raise OutOfStock(
                product_id=products[variant_id], variant_id=variant_id, requested=quantity, available=available
            )
        plan.extend(taken)
    # The lock order: variant, then warehouse.
    return sorted(plan, key=lambda item: (item[0].variant_id, item[0].warehouse_id))


def _take(plan: list[tuple[Candidate, int]], *, sell: bool) -> list[int]:
    """One guarded UPDATE per planned row, in lock order; the variants whose row it emptied.

    Raises _Taken(index) at the first row that no longer has the units.
    """
    table = connection.ops.quote_name(Stock._meta.db_table)
    # A sale moves the units from on hand to committed (sold, awaiting shipment) in the same statement.
    change = "on_hand = on_hand - %s, committed = committed + %s" if sell else "reserved = reserved + %s"
    emptied = []
    with connection.cursor() as cursor:
        for index, (candidate, quantity) in enumerate(plan):
            # A single-table WHERE: PostgreSQL re-checks it against a row a concurrent checkout
            # just committed (a join would be evaluated on the old snapshot, and oversell).
            cursor.execute(
                f"UPDATE {table} SET {change} "  # noqa: S608 (our names)
                "WHERE id = %s AND on_hand - reserved >= %s RETURNING on_hand - reserved",
                [*([quantity] * (2 if sell else 1)), candidate.stock_id, quantity],
            )
            row = cursor.fetchone()
            if row is None:
                raise _Taken(index)
            if row[0] <= 0:
                emptied.append(candidate.variant_id)
    return emptied


def _take_once(plan: list[tuple[Candidate, int]], *, sell: bool) -> list[int]:
    """_take, undone when a later row fails: a savepoint only when the plan has several rows."""
    if len(plan) == 1:
        return _take(plan, sell=sell)  # nothing taken before the only row can fail
    with transaction.atomic():
        return _take(plan, sell=sell)


def stock_allocate(
    *, lines: Iterable[tuple[int, int]], country: str = "", sell: bool = False
) -> list[Allocation]:
    """Take every (variant_id, quantity) line from the warehouses that serve it, all or nothing.

    Plans from a plain read, then takes the planned rows in (variant,
    warehouse) order; a row a concurrent checkout emptied meanwhile means
    planning again (PLAN_ATTEMPTS). OutOfStock names the variant, the units
    asked and those available. Writes no movement: the callers do.
    """
    merged = product_lines_merge(lines)
    variant_ids = [vid for vid, _qty in merged]
    for attempt in range(PLAN_ATTEMPTS):
        by_variant, products, unsold = _candidates(variant_ids, country)
        plan = _plan(merged, by_variant, products, unsold)
        try:
            emptied = _take_once(plan, sell=sell)
        except _Taken:
            if attempt == PLAN_ATTEMPTS - 1:
                by_variant, products, unsold = _candidates(variant_ids, country)
                _plan(merged, by_variant, products, unsold)  # raises OutOfStock with what is left
                # Enough again, but taken from under three plans in a row: answer as sold out for now.
                variant_id, quantity = merged[0]
                raise OutOfStock(product_id=products[variant_id], variant_id=variant_id, requested=quantity,
                                 available=0)
            continue
        allocations = [Allocation(c.variant_id, c.warehouse_id, qty, products[c.variant_id]) for c, qty in plan]
        # A variant whose taken rows all kept units is still in stock: only an emptied row needs a recount check.
        _recount_after({vid: products[vid] for vid in emptied}, gone_out=True)
        return allocations
    raise AssertionError("unreachable")


def _movements_write(allocations: list[Allocation], *, kind, reference: str, reason: str, actor, sold: bool) -> None:
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product_id=a.product_id,
                variant_id=a.variant_id,
                warehouse_id=a.warehouse_id,
                kind=kind,
                on_hand_delta=-a.quantity if sold else 0,
                reserved_delta=0 if sold else a.quantity,
                committed_delta=a.quantity if sold else 0,
                reference=reference,
                reason=reason,
                actor=actor,
            )
            for a in allocations
        ]
    )


def stock_reserve(
    *, lines: Iterable[tuple[int, int]], reference: str, expires_at: datetime, country: str = "", actor=None
) -> list[Allocation]:
    """Reserve every (variant_id, quantity) line for `reference`, all or nothing; returns the allocations.

    Each line from the active warehouses shipping to `country` (see
    allocation_plan), rows taken in (variant, warehouse) order. Raises
    OutOfStock and leaves nothing behind when a line cannot be served.
    Call inside the order's transaction.
    """
    actor = _actor(actor)
    with transaction.atomic():
        allocations = stock_allocate(lines=lines, country=country)
        StockReservation.objects.bulk_create(
            [
                StockReservation(
                    product_id=a.product_id, variant_id=a.variant_id, warehouse_id=a.warehouse_id,
                    quantity=a.quantity, reference=reference, expires_at=expires_at,
                )
                for a in allocations
            ]
        )
        _movements_write(
            allocations, kind=StockMovement.Kind.RESERVATION, reference=reference, reason="checkout", actor=actor,
            sold=False,
        )
        stock_cache_invalidate({a.product_id for a in allocations})
    return allocations


def stock_sell(
    *, lines: Iterable[tuple[int, int]], reference: str, country: str = "", actor=None
) -> list[Allocation]:
    """Sell every (variant_id, quantity) line at once, all or nothing: an order paid in the same transaction.

    Allocated as stock_reserve does, but each guarded UPDATE moves the units
    from on hand to committed (sold, awaiting shipment) directly, plus a reservation record born sold and one SALE
    movement per allocation. Call it as the last step of the order's
    transaction: the stock rows stay locked until commit.
    """
    actor = _actor(actor)
    now = timezone.now()
    with transaction.atomic(savepoint=False):  # as before variants: no savepoint round trip under the lock
        allocations = stock_allocate(lines=lines, country=country, sell=True)
        StockReservation.objects.bulk_create(
            [
                StockReservation(
                    product_id=a.product_id, variant_id=a.variant_id, warehouse_id=a.warehouse_id,
                    quantity=a.quantity, reference=reference, expires_at=now, status=StockReservation.Status.SOLD,
                )
                for a in allocations
            ]
        )
        _movements_write(
            allocations, kind=StockMovement.Kind.SALE, reference=reference, reason="sale", actor=actor, sold=True
        )
        stock_cache_invalidate({a.product_id for a in allocations})
    return allocations


def _close_reservations(*, reference: str, status: StockReservation.Status, actor, reason: str) -> int:
    actor = _actor(actor)
    sold = status == StockReservation.Status.SOLD
    total = 0
    released: dict[int, int] = defaultdict(int)
    variants: dict[int, int] = {}
    with transaction.atomic(savepoint=False):
        # The row locks make a concurrent second call wait, then find nothing open.
        open_rows = list(
            StockReservation.objects.select_for_update()
            .filter(reference=reference, status=StockReservation.Status.OPEN)
            .order_by("variant_id", "warehouse_id", "id")
            .values_list("id", "product_id", "variant_id", "warehouse_id", "quantity")
        )
        for reservation_id, product_id, variant_id, warehouse_id, quantity in open_rows:
            claimed = StockReservation.objects.filter(
                pk=reservation_id, status=StockReservation.Status.OPEN
            ).update(status=status, updated_at=timezone.now())
            if not claimed:
                continue
            row = Stock.objects.filter(variant_id=variant_id, warehouse_id=warehouse_id)
            if sold:  # off the shelf and out of the reservation, into committed: one statement
                row.update(
                    on_hand=F("on_hand") - quantity, reserved=F("reserved") - quantity,
                    committed=F("committed") + quantity,
                )
            else:
                row.update(reserved=F("reserved") - quantity)
            StockMovement.objects.create(
                product_id=product_id,
                variant_id=variant_id,
                warehouse_id=warehouse_id,
                kind=StockMovement.Kind.SALE if sold else StockMovement.Kind.RELEASE,
                on_hand_delta=-quantity if sold else 0,
                reserved_delta=-quantity,
                committed_delta=quantity if sold else 0,
                reference=reference,
                reason=reason,
                actor=actor,
            )
            total += quantity
            released[variant_id] += quantity
            variants[variant_id] = product_id
        if released and not sold:  # a sale takes units that were already reserved: availability stays
            _recount_after(variants, gone_out=False, delta=released)
        stock_cache_invalidate(set(variants.values()))
    return total


def stock_release(*, reference: str, actor=None, reason: str = "") -> int:
    """Release every open reservation of `reference`, exactly once; returns the units released."""
    return _close_reservations(
        reference=reference, status=StockReservation.Status.RELEASED, actor=actor, reason=reason or "released"
    )


def stock_commit_sale(*, reference: str, actor=None) -> int:
    """Turn the open reservations of `reference` into a sale, exactly once; returns the units sold.

    The units leave on hand and reserved and wait in committed until they ship.
    """
    return _close_reservations(reference=reference, status=StockReservation.Status.SOLD, actor=actor, reason="sale")


def _variant_resolve(variant_id: int | None, product_id: int | None) -> tuple[int, int]:
    """(variant id, product id): the variant named, or a product's default variant."""
    if variant_id is not None:
        row = ProductVariant.objects.filter(pk=variant_id).values_list("pk", "product_id").first()
    else:
        row = (
            ProductVariant.objects.filter(product_id=product_id)
            .order_by("-is_default", "position", "id")
            .values_list("pk", "product_id")
            .first()
        )
    if row is None:
        raise ProductNotFound(field="variant")
    return row


def _warehouse_resolve(warehouse_id: int | None) -> int:
    if warehouse_id is None:
        return warehouse_default().pk
    if not Warehouse.objects.filter(pk=warehouse_id).exists():
        raise StockInvalid(field="warehouse")
    return warehouse_id


def _stock_row_ensure(variant_id: int, warehouse_id: int, product_id: int) -> None:
    Stock.objects.get_or_create(variant_id=variant_id, warehouse_id=warehouse_id, defaults={"product_id": product_id})


def _positive(value, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidQuantity(field=field)


def stock_restock(
    *, quantity: int, reason: str, variant_id: int | None = None, product_id: int | None = None,
    warehouse_id: int | None = None, actor=None, reference: str = "",
) -> None:
    """Add units on hand (deliveries, returned goods) of a variant (or a product's default) in a warehouse."""
    _positive(quantity, "quantity")
    variant_id, product_id = _variant_resolve(variant_id, product_id)
    warehouse_id = _warehouse_resolve(warehouse_id)
    with transaction.atomic():
        _stock_row_ensure(variant_id, warehouse_id, product_id)
        Stock.objects.filter(variant_id=variant_id, warehouse_id=warehouse_id).update(on_hand=F("on_hand") + quantity)
        StockMovement.objects.create(
            product_id=product_id, variant_id=variant_id, warehouse_id=warehouse_id,
            kind=StockMovement.Kind.RESTOCK, on_hand_delta=quantity, reference=reference, reason=reason,
            actor=_actor(actor),
        )
        _recount_after({variant_id: product_id}, gone_out=False, delta={variant_id: quantity})
        stock_cache_invalidate([product_id])


def stock_adjust(
    *, delta: int, reason: str, variant_id: int | None = None, product_id: int | None = None,
    warehouse_id: int | None = None, actor=None, reference: str = "",
) -> None:
    """Correct units on hand by `delta` (stocktake, damage); never below what is reserved."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidQuantity(field="delta")
    variant_id, product_id = _variant_resolve(variant_id, product_id)
    warehouse_id = _warehouse_resolve(warehouse_id)
    with transaction.atomic():
        _stock_row_ensure(variant_id, warehouse_id, product_id)
        updated = Stock.objects.filter(
            variant_id=variant_id, warehouse_id=warehouse_id, on_hand__gte=F("reserved") - delta
        ).update(on_hand=F("on_hand") + delta)
        if not updated:
            raise OutOfStock(
                product_id=product_id, variant_id=variant_id, field="delta",
                available=_row_available(variant_id, warehouse_id),
            )
        StockMovement.objects.create(
            product_id=product_id, variant_id=variant_id, warehouse_id=warehouse_id,
            kind=StockMovement.Kind.ADJUSTMENT, on_hand_delta=delta, reference=reference, reason=reason,
            actor=_actor(actor),
        )
        if delta < 0:
            _recount_after({variant_id: product_id}, gone_out=True)
        else:
            _recount_after({variant_id: product_id}, gone_out=False, delta={variant_id: delta})
        stock_cache_invalidate([product_id])


def _row_available(variant_id: int, warehouse_id: int) -> int:
    row = Stock.objects.filter(variant_id=variant_id, warehouse_id=warehouse_id).values_list("on_hand", "reserved")
    row = row.first()
    return max(row[0] - row[1], 0) if row else 0


def stock_transfer(
    *, variant_id: int, from_warehouse_id: int, to_warehouse_id: int, quantity: int, reason: str, actor=None,
    reference: str = "",
) -> None:
    """Move units on hand between warehouses: two balanced TRANSFER movements in one transaction.

    Only units not reserved can move (OutOfStock, field "quantity", otherwise).
    The two rows are taken in warehouse-id order (the stock lock order).
    """
    _positive(quantity, "quantity")
    if from_warehouse_id == to_warehouse_id:
        raise StockInvalid(field="to_warehouse")
    variant_id, product_id = _variant_resolve(variant_id, None)
    for field, wid in (("from_warehouse", from_warehouse_id), ("to_warehouse", to_warehouse_id)):
        if not Warehouse.objects.filter(pk=wid).exists():
            raise StockInvalid(field=field)
    with transaction.atomic():
        _stock_row_ensure(variant_id, to_warehouse_id, product_id)
        steps = sorted([(from_warehouse_id, -quantity), (to_warehouse_id, quantity)])
        for warehouse_id, delta in steps:
            rows = Stock.objects.filter(variant_id=variant_id, warehouse_id=warehouse_id)
            if delta < 0:
                rows = rows.filter(on_hand__gte=F("reserved") - delta)
            if rows.update(on_hand=F("on_hand") + delta) != 1:
                raise OutOfStock(
                    product_id=product_id, variant_id=variant_id, field="quantity", requested=quantity,
                    available=_row_available(variant_id, from_warehouse_id),
                )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    product_id=product_id, variant_id=variant_id, warehouse_id=wid, kind=StockMovement.Kind.TRANSFER,
                    on_hand_delta=delta, reference=reference, reason=reason, actor=_actor(actor),
                )
                for wid, delta in steps
            ]
        )
        stock_cache_invalidate([product_id])


def _committed_lines_merge(lines: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(variant id, warehouse id, units) summed per stock row, in lock order."""
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for variant_id, warehouse_id, quantity in lines:
        _positive(quantity, "quantity")
        merged[(int(variant_id), int(warehouse_id))] += quantity
    return [(vid, wid, qty) for (vid, wid), qty in sorted(merged.items())]


def _committed_move(lines, *, kind: StockMovement.Kind, back_on_hand: bool, reference: str, reason: str, actor):
    """Take units out of committed (and, when back_on_hand, onto the shelf): one guarded UPDATE per row.

    All or nothing (the caller's transaction): StockNotCommitted at the first
    row with fewer committed units than asked. Returns variant id -> product id.
    """
    merged = _committed_lines_merge(lines)
    products: dict[int, int] = {}
    movements = []
    for variant_id, warehouse_id, quantity in merged:
        changes = {"committed": F("committed") - quantity}
        if back_on_hand:
            changes["on_hand"] = F("on_hand") + quantity
        rows = Stock.objects.filter(variant_id=variant_id, warehouse_id=warehouse_id, committed__gte=quantity)
        if rows.update(**changes) != 1:
            raise StockNotCommitted(variant_id=variant_id, warehouse_id=warehouse_id, requested=quantity)
        products[variant_id] = 0
        movements.append((variant_id, warehouse_id, quantity))
    products.update(ProductVariant.objects.filter(pk__in=list(products)).values_list("pk", "product_id"))
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product_id=products[vid], variant_id=vid, warehouse_id=wid, kind=kind,
                on_hand_delta=qty if back_on_hand else 0, committed_delta=-qty, reference=reference,
                reason=reason, actor=_actor(actor),
            )
            for vid, wid, qty in movements
        ]
    )
    return products


def stock_ship(*, lines: Iterable[tuple[int, int, int]], reference: str, actor=None, reason: str = "shipment") -> None:
    """Move shipped units out of the warehouse: (variant id, warehouse id, units) leave `committed`.

    One guarded UPDATE (committed >= units) and one SHIPMENT movement per
    stock row, in lock order; StockNotCommitted (409) and nothing moves when a
    row has fewer sold units waiting. A reference ships a row once (a unique
    constraint on the SHIPMENT movements): use one reference per parcel. Call
    inside the shipment's transaction.
    """
    with transaction.atomic():
        _committed_move(lines, kind=StockMovement.Kind.SHIPMENT, back_on_hand=False, reference=reference,
                        reason=reason, actor=actor)


def stock_sale_cancel(
    *, lines: Iterable[tuple[int, int, int]], reference: str, actor=None, reason: str = "sale cancelled"
) -> None:
    """Put sold units that never shipped back on the shelf: (variant id, warehouse id, units), committed -> on hand.

    Guarded like stock_ship (StockNotCommitted, all or nothing); one
    SALE_CANCELLED movement per stock row. The caller guarantees once (a
    refund runs its handler once).
    """
    lines = list(lines)
    with transaction.atomic():
        products = _committed_move(lines, kind=StockMovement.Kind.SALE_CANCELLED, back_on_hand=True,
                                   reference=reference, reason=reason, actor=actor)
        delta: dict[int, int] = defaultdict(int)
        for variant_id, _warehouse_id, quantity in _committed_lines_merge(lines):
            delta[variant_id] += quantity
        _recount_after(products, gone_out=False, delta=dict(delta))
        stock_cache_invalidate(set(products.values()))
