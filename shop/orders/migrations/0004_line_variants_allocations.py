"""Order lines name their variant; each line keeps where its units were allocated.

Existing lines get their product's default variant, and allocations from
the stock reservations of their order (all in the default warehouse after
catalog 0004).
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def lines_fill(apps, schema_editor):
    OrderLine = apps.get_model("orders", "OrderLine")
    OrderLineAllocation = apps.get_model("orders", "OrderLineAllocation")
    ProductVariant = apps.get_model("catalog", "ProductVariant")
    StockReservation = apps.get_model("catalog", "StockReservation")
    default = ProductVariant.objects.filter(product_id=OuterRef("product_id"), is_default=True).values("pk")[:1]
    OrderLine.objects.filter(product__isnull=False).update(variant_id=Subquery(default))
    lines = {
        (number, variant_id): line_id
        for line_id, number, variant_id in OrderLine.objects.filter(variant__isnull=False).values_list(
            "pk", "order__number", "variant_id"
        )
    }
    taken: dict[tuple[int, int], int] = {}
    for reference, variant_id, warehouse_id, quantity in StockReservation.objects.filter(
        status__in=["open", "sold"]
    ).values_list("reference", "variant_id", "warehouse_id", "quantity"):
        line_id = lines.get((reference, variant_id))
        if line_id is not None:
            taken[(line_id, warehouse_id)] = taken.get((line_id, warehouse_id), 0) + quantity
    OrderLineAllocation.objects.bulk_create(
        [OrderLineAllocation(line_id=lid, warehouse_id=wid, quantity=q) for (lid, wid), q in taken.items()],
        batch_size=2000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0004_variants_warehouses"),
        ("orders", "0003_paid_at_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderline",
            name="variant",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="catalog.productvariant"),
        ),
        migrations.AddField(
            model_name="orderline",
            name="options",
            field=models.JSONField(blank=True, default=dict, verbose_name="options"),
        ),
        migrations.CreateModel(
            name="OrderLineAllocation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("quantity", models.PositiveIntegerField(verbose_name="quantity")),
                ("line", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="allocations", to="orders.orderline")),
                ("warehouse", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.warehouse")),
            ],
            options={
                "verbose_name": "allocation",
                "verbose_name_plural": "allocations",
                "ordering": ["line_id", "warehouse_id"],
                "constraints": [
                    models.UniqueConstraint(fields=("line", "warehouse"), name="orders_allocation_one_per_warehouse"),
                    models.CheckConstraint(condition=models.Q(("quantity__gte", 1)), name="orders_allocation_quantity_positive"),
                ],
            },
        ),
        migrations.RunPython(lines_fill, migrations.RunPython.noop),
    ]
