"""The nightly reconciliation's check of stock (registered in CatalogConfig.ready).

Each stock row's counters (a variant in a warehouse) against its open
reservations and its movements: reserved equals the open reservations,
on_hand and committed the sums of their movements. (That committed equals
the paid units not yet shipped is the orders app's check: it owns orders.)
Payments runs it with its own checks and stores what it reports
(`shop.core.reconciliation`); catalog owns the tables and knows nothing of
payments, so its kinds and actions are its own enums, whose values are
those `payments.models.ReconciliationItem` stores.
"""

from datetime import date
from enum import StrEnum

from django.db.models import BigIntegerField, ExpressionWrapper, F, Sum
from django.utils.translation import gettext_lazy as _

from catalog.models import Stock, StockMovement, StockReservation
from shop.core.reconciliation import BATCH, ReconciliationFinding, ReconciliationReport, merge_sums


class StockFindingKind(StrEnum):
    STOCK_RESERVED = "stock_reserved"
    STOCK_ON_HAND = "stock_on_hand"
    STOCK_COMMITTED = "stock_committed"


class StockFindingAction(StrEnum):
    REVIEW = "review"
    STOCKTAKE = "stocktake"


def stock_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Each stock row's counters against its open reservations and its movements (stock has no day: all of it).

    Four streams in (variant, warehouse) order (the counters; on-hand and
    committed movements and open reservations each summed once with GROUP BY) merged here: two scans,
    not two correlated sums per row.
    """
    stock = (
        Stock.objects.annotate(key=_key())
        .values("key", "id", "variant__sku", "warehouse__code", "on_hand", "reserved", "committed")
        .order_by("key")
    )
    moved = (
        StockMovement.objects.annotate(key=_key()).values("key")
        .annotate(total=Sum("on_hand_delta")).order_by("key")
    )
    committed = (
        StockMovement.objects.exclude(committed_delta=0).annotate(key=_key()).values("key")
        .annotate(total=Sum("committed_delta")).order_by("key")
    )
    held = (
        StockReservation.objects.filter(status=StockReservation.Status.OPEN)
        .annotate(key=_key())
        .values("key")
        .annotate(total=Sum("quantity"))
        .order_by("key")
    )
    for row, totals in merge_sums(
        stock.iterator(chunk_size=BATCH),
        "key",
        moved=moved.iterator(chunk_size=BATCH),
        held=held.iterator(chunk_size=BATCH),
        committed=committed.iterator(chunk_size=BATCH),
    ):
        moved_total, open_total = totals["moved"] or 0, totals["held"] or 0
        if row["reserved"] != open_total:
            report(_row_finding(row, StockFindingKind.STOCK_RESERVED, StockFindingAction.REVIEW, open_total,
                                row["reserved"], _("Reserved units differ from the open reservations.")))
        if row["on_hand"] != moved_total:
            report(_row_finding(row, StockFindingKind.STOCK_ON_HAND, StockFindingAction.STOCKTAKE, moved_total,
                                row["on_hand"], _("Units on hand differ from the sum of stock movements.")))
        if row["committed"] != (totals["committed"] or 0):
            report(_row_finding(
                row, StockFindingKind.STOCK_COMMITTED, StockFindingAction.STOCKTAKE, totals["committed"] or 0,
                row["committed"], _("Units sold and awaiting shipment differ from the sum of stock movements."),
            ))
    return {"stock_rows": Stock.objects.count()}


def _row_finding(row: dict, kind, action, expected: int, actual: int, detail) -> ReconciliationFinding:
    """A finding on one stock row (a variant in a warehouse)."""
    return ReconciliationFinding(
        kind=kind, action=action, object_type="catalog.stock", object_id=row["id"],
        related=f"{row['variant__sku']}@{row['warehouse__code']}", expected=expected, actual=actual, detail=detail,
    )


def _key():
    """A sort key that orders like (variant_id, warehouse_id): variant * 2^20 + warehouse."""
    return ExpressionWrapper(F("variant_id") * 1048576 + F("warehouse_id"), output_field=BigIntegerField())
