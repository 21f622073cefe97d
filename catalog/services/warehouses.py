"""Warehouses and the allocation plan: which warehouses serve a line.

The plan is pure (no database): catalog.services.stock reads the candidate
stock rows, asks for a plan, and takes it with guarded UPDATEs.
"""

from dataclasses import dataclass

from django.db import transaction

from catalog.cache import stock_cache_invalidate
from catalog.models import Stock, Warehouse
from catalog.services.facets import facet_counts_refresh_for_products

DEFAULT_WAREHOUSE_CODE = "main"


@dataclass(frozen=True)
class Candidate:
    """A stock row that could serve a line: its warehouse and what it has left."""

    stock_id: int
    variant_id: int
    warehouse_id: int
    available: int
    priority: int
    country: str


def warehouse_default() -> Warehouse:
    """Where stock goes when no warehouse is named: the first active one (made on a new shop)."""
    warehouse = Warehouse.objects.filter(is_active=True).order_by("priority", "id").first()
    if warehouse is not None:
        return warehouse
    with transaction.atomic():
        warehouse, _created = Warehouse.objects.get_or_create(
            code=DEFAULT_WAREHOUSE_CODE, defaults={"name": "Main warehouse", "country": "DE"}
        )
    return warehouse


def allocation_plan(candidates: list[Candidate], quantity: int, country: str = "") -> list[tuple[Candidate, int]]:
    """How to serve `quantity` from `candidates`: [(candidate, units)], or [] when they cannot.

    One warehouse that can serve the whole line first (lowest priority, then
    one in the order's country, then lowest id); else split over them in that
    order. The caller has already left out inactive warehouses and those not
    shipping to the country.
    """
    country = (country or "").upper()
    ranked = sorted(
        (c for c in candidates if c.available > 0),
        key=lambda c: (c.priority, c.country.upper() != country, c.warehouse_id),
    )
    for candidate in ranked:
        if candidate.available >= quantity:
            return [(candidate, quantity)]
    plan, left = [], quantity
    for candidate in ranked:
        take = min(candidate.available, left)
        plan.append((candidate, take))
        left -= take
        if left == 0:
            return plan
    return []


def warehouse_set_active(*, warehouse_id: int, is_active: bool) -> bool:
    """Switch a warehouse on or off; its stock stops (or starts) counting at once. Returns whether it changed.

    Checkouts skip an inactive warehouse from their next plan on; cached
    pages and facet counts of the products it stocks are refreshed after commit.
    """
    with transaction.atomic():
        changed = Warehouse.objects.filter(pk=warehouse_id).exclude(is_active=is_active).update(is_active=is_active)
        if changed:
            product_ids = sorted(set(Stock.objects.filter(warehouse_id=warehouse_id).values_list("product_id", flat=True)))
            stock_cache_invalidate(product_ids)
            transaction.on_commit(lambda: facet_counts_refresh_for_products(product_ids=product_ids), robust=True)
        return bool(changed)
