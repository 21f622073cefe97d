"""Set catalog's new `committed` counter for units already sold and not yet shipped.

Before the counter, payment took sold units off hand and a shipment moved
nothing. Per (variant, warehouse): the units allocated to lines of paid or
partially shipped orders, less what shipped from that warehouse, are committed
now; each such row gets one ADJUSTMENT movement with that committed change, so
the counter stays the sum of its movements. On hand does not change.
"""

from collections import defaultdict

from django.db import migrations

REFERENCE = "migration:stock-committed"
UNSHIPPED_STATES = ("paid", "partially_shipped")


def committed_set(apps, schema_editor):
    OrderLineAllocation = apps.get_model("orders", "OrderLineAllocation")
    ShipmentLine = apps.get_model("orders", "ShipmentLine")
    ProductVariant = apps.get_model("catalog", "ProductVariant")
    Stock = apps.get_model("catalog", "Stock")
    StockMovement = apps.get_model("catalog", "StockMovement")
    shipped: dict[tuple[int, int], int] = defaultdict(int)
    for line_id, warehouse_id, quantity in ShipmentLine.objects.filter(
        order_line__order__status__in=UNSHIPPED_STATES
    ).values_list("order_line_id", "shipment__warehouse_id", "quantity"):
        shipped[(line_id, warehouse_id)] += quantity
    committed: dict[tuple[int, int], int] = defaultdict(int)
    for line_id, variant_id, warehouse_id, quantity in OrderLineAllocation.objects.filter(
        line__order__status__in=UNSHIPPED_STATES, line__variant__isnull=False
    ).values_list("line_id", "line__variant_id", "warehouse_id", "quantity"):
        left = quantity - shipped[(line_id, warehouse_id)]
        if left > 0:
            committed[(variant_id, warehouse_id)] += left
    products = dict(
        ProductVariant.objects.filter(pk__in={vid for vid, _wid in committed}).values_list("pk", "product_id")
    )
    movements = []
    for (variant_id, warehouse_id), units in sorted(committed.items()):
        stock, _created = Stock.objects.get_or_create(
            variant_id=variant_id, warehouse_id=warehouse_id, defaults={"product_id": products[variant_id]}
        )
        Stock.objects.filter(pk=stock.pk).update(committed=units)
        movements.append(
            StockMovement(
                product_id=products[variant_id],
                variant_id=variant_id,
                warehouse_id=warehouse_id,
                kind="adjustment",
                committed_delta=units,
                reference=REFERENCE,
                reason="sold units awaiting shipment, counted when the committed counter was introduced",
            )
        )
    StockMovement.objects.bulk_create(movements)


def committed_unset(apps, schema_editor):
    apps.get_model("catalog", "StockMovement").objects.filter(reference=REFERENCE).delete()
    apps.get_model("catalog", "Stock").objects.update(committed=0)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_invoice_view_for_support_finance"),
        ("catalog", "0009_stock_committed"),
    ]

    operations = [migrations.RunPython(committed_set, committed_unset)]
