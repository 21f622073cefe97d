"""The nightly reconciliation's check of stock (registered in CatalogConfig.ready).

Each product's counters against its open reservations and its movements:
reserved equals the open reservations, on_hand the sum of movements.
Payments runs it with its own checks and stores what it reports
(`shop.core.reconciliation`); catalog owns the tables and knows nothing of
payments, so its kinds and actions are its own enums, whose values are
those `payments.models.ReconciliationItem` stores.
"""

from datetime import date
from enum import StrEnum

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from catalog.models import Stock, StockMovement, StockReservation
from shop.core.reconciliation import BATCH, ReconciliationFinding, ReconciliationReport, merge_sums


class StockFindingKind(StrEnum):
    STOCK_RESERVED = "stock_reserved"
    STOCK_ON_HAND = "stock_on_hand"


class StockFindingAction(StrEnum):
    REVIEW = "review"
    STOCKTAKE = "stocktake"


def stock_check(*, day: date, report: ReconciliationReport) -> dict[str, int]:
    """Each product's counters against its open reservations and its movements (stock has no day: all of it).

    Three streams in product order (the counters; movements and open
    reservations each summed once with GROUP BY) merged here: two scans, not
    two correlated sums per product.
    """
    stock = Stock.objects.values("product_id", "product__sku", "on_hand", "reserved").order_by("product_id")
    moved = (
        StockMovement.objects.values("product_id").annotate(total=Sum("on_hand_delta")).order_by("product_id")
    )
    held = (
        StockReservation.objects.filter(status=StockReservation.Status.OPEN)
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .order_by("product_id")
    )
    for row, totals in merge_sums(
        stock.iterator(chunk_size=BATCH),
        "product_id",
        moved=moved.iterator(chunk_size=BATCH),
        held=held.iterator(chunk_size=BATCH),
    ):
        moved_total, open_total = totals["moved"] or 0, totals["held"] or 0
        if row["reserved"] != open_total:
            report(
                ReconciliationFinding(
                    kind=StockFindingKind.STOCK_RESERVED,
                    action=StockFindingAction.REVIEW,
                    object_type="catalog.product",
                    object_id=row["product_id"],
                    related=row["product__sku"],
                    expected=open_total,
                    actual=row["reserved"],
                    detail=_("Reserved units differ from the open reservations."),
                )
            )
        if row["on_hand"] != moved_total:
            report(
                ReconciliationFinding(
                    kind=StockFindingKind.STOCK_ON_HAND,
                    action=StockFindingAction.STOCKTAKE,
                    object_type="catalog.product",
                    object_id=row["product_id"],
                    related=row["product__sku"],
                    expected=moved_total,
                    actual=row["on_hand"],
                    detail=_("Units on hand differ from the sum of stock movements."),
                )
            )
    return {"products": Stock.objects.count()}
