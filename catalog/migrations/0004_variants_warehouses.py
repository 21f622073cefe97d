"""Variants and warehouses: every product gets one default variant, its stock and history a default warehouse.

The old one-row-per-product stock table is renamed aside, the new per
(variant, warehouse) table filled from it, then the old one dropped; movements
and reservations keep their rows and learn their variant and warehouse.
Nothing is lost: each product's on_hand, reserved, movements and open
reservations are the same numbers afterwards, on its default variant in the
default warehouse.
"""

import django.db.models.deletion
import djmoney.models.fields
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, OuterRef, Q, Subquery

DEFAULT_WAREHOUSE = {"code": "main", "name": "Main warehouse", "country": "DE", "priority": 0}


def variants_and_stock_fill(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    ProductVariant = apps.get_model("catalog", "ProductVariant")
    Warehouse = apps.get_model("catalog", "Warehouse")
    LegacyStock = apps.get_model("catalog", "LegacyStock")
    Stock = apps.get_model("catalog", "Stock")
    StockMovement = apps.get_model("catalog", "StockMovement")
    StockReservation = apps.get_model("catalog", "StockReservation")
    if not Product.objects.exists():
        return
    warehouse, _created = Warehouse.objects.get_or_create(code=DEFAULT_WAREHOUSE["code"], defaults=DEFAULT_WAREHOUSE)
    batch = 2000
    ids = list(Product.objects.order_by("pk").values_list("pk", "sku", "price_currency"))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        ProductVariant.objects.bulk_create(
            [ProductVariant(product_id=pk, sku=sku, is_default=True, price_currency=cur) for pk, sku, cur in chunk]
        )
    variant_of = dict(ProductVariant.objects.values_list("product_id", "pk"))
    legacy = dict(
        (pid, (on_hand, reserved)) for pid, on_hand, reserved in LegacyStock.objects.values_list(
            "product_id", "on_hand", "reserved"
        )
    )
    rows = [
        Stock(
            variant_id=variant_of[pk], warehouse_id=warehouse.pk, product_id=pk,
            on_hand=legacy.get(pk, (0, 0))[0], reserved=legacy.get(pk, (0, 0))[1],
        )
        for pk, _sku, _cur in ids
    ]
    Stock.objects.bulk_create(rows, batch_size=batch)
    default_variant = ProductVariant.objects.filter(product_id=OuterRef("product_id"), is_default=True).values("pk")[:1]
    StockMovement.objects.update(variant_id=Subquery(default_variant), warehouse_id=warehouse.pk)
    StockReservation.objects.update(variant_id=Subquery(default_variant), warehouse_id=warehouse.pk)


def variants_and_stock_unfill(apps, schema_editor):
    """Back to one row per product: the sums over its variants and warehouses."""
    LegacyStock = apps.get_model("catalog", "LegacyStock")
    Stock = apps.get_model("catalog", "Stock")
    totals = {}
    for pid, on_hand, reserved in Stock.objects.values_list("product_id", "on_hand", "reserved"):
        a, b = totals.get(pid, (0, 0))
        totals[pid] = (a + on_hand, b + reserved)
    LegacyStock.objects.bulk_create(
        [LegacyStock(product_id=pid, on_hand=a, reserved=b) for pid, (a, b) in totals.items()]
    )


MONEY = {
    "max_digits": 12,
    "decimal_places": 2,
    "default_currency": settings.DEFAULT_CURRENCY,
    "currency_choices": [(settings.DEFAULT_CURRENCY, settings.DEFAULT_CURRENCY)],
}


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0003_facet_counts_sort_indexes_labels"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductType",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=120, unique=True, verbose_name="name")),
            ],
            options={"verbose_name": "product type", "verbose_name_plural": "product types", "ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="ProductOption",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(help_text="the key in the API's options, e.g. size", max_length=30, verbose_name="code")),
                ("name", models.CharField(max_length=60, verbose_name="name")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                ("product_type", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="options", to="catalog.producttype", verbose_name="product type")),
            ],
            options={
                "verbose_name": "option", "verbose_name_plural": "options", "ordering": ["position", "id"],
                "constraints": [models.UniqueConstraint(fields=("product_type", "code"), name="catalog_option_unique_code")],
            },
        ),
        migrations.CreateModel(
            name="OptionValue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.CharField(max_length=60, verbose_name="value")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                ("option", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="values", to="catalog.productoption", verbose_name="option")),
            ],
            options={
                "verbose_name": "option value", "verbose_name_plural": "option values", "ordering": ["position", "id"],
                "constraints": [models.UniqueConstraint(fields=("option", "value"), name="catalog_optionvalue_unique")],
            },
        ),
        migrations.AddField(
            model_name="product",
            name="product_type",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="products", to="catalog.producttype", verbose_name="product type"),
        ),
        migrations.CreateModel(
            name="Warehouse",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(max_length=20, unique=True, verbose_name="code")),
                ("name", models.CharField(max_length=120, verbose_name="name")),
                ("country", models.CharField(help_text="ISO 3166-1 alpha-2 code", max_length=2, verbose_name="country")),
                ("address", models.TextField(blank=True, verbose_name="address")),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("priority", models.PositiveSmallIntegerField(default=0, help_text="lower is tried first", verbose_name="priority")),
                ("ships_to", models.JSONField(blank=True, default=list, verbose_name="ships to")),
            ],
            options={"verbose_name": "warehouse", "verbose_name_plural": "warehouses", "ordering": ["priority", "id"]},
        ),
        migrations.CreateModel(
            name="ProductVariant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sku", models.CharField(max_length=64, unique=True, verbose_name="SKU")),
                ("price_currency", djmoney.models.fields.CurrencyField(choices=[(settings.DEFAULT_CURRENCY, settings.DEFAULT_CURRENCY)], default=settings.DEFAULT_CURRENCY, editable=False, max_length=3, null=True)),
                ("price", djmoney.models.fields.MoneyField(blank=True, null=True, verbose_name="price", **MONEY)),
                ("weight_grams", models.PositiveIntegerField(blank=True, null=True, verbose_name="weight (g)")),
                ("is_default", models.BooleanField(default=False, verbose_name="default")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                ("option_values", models.ManyToManyField(blank=True, related_name="variants", to="catalog.optionvalue", verbose_name="option values")),
                ("product", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="variants", to="catalog.product", verbose_name="product")),
            ],
            options={
                "verbose_name": "variant", "verbose_name_plural": "variants", "ordering": ["position", "id"],
                "constraints": [
                    models.UniqueConstraint(condition=Q(("is_default", True)), fields=("product",), name="catalog_variant_one_default"),
                    models.CheckConstraint(condition=Q(("price__isnull", True)) | Q(("price__gte", 0)), name="catalog_variant_price_not_negative"),
                ],
            },
        ),
        migrations.AddField(
            model_name="productimage",
            name="variant",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="images", to="catalog.productvariant", verbose_name="variant"),
        ),
        migrations.AddField(
            model_name="stockmovement",
            name="variant",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="stock_movements", to="catalog.productvariant", verbose_name="variant"),
        ),
        migrations.AddField(
            model_name="stockmovement",
            name="warehouse",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.warehouse", verbose_name="warehouse"),
        ),
        migrations.AddField(
            model_name="stockreservation",
            name="variant",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="reservations", to="catalog.productvariant", verbose_name="variant"),
        ),
        migrations.AddField(
            model_name="stockreservation",
            name="warehouse",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.warehouse", verbose_name="warehouse"),
        ),
        migrations.AlterField(
            model_name="stockmovement",
            name="kind",
            field=models.CharField(choices=[("restock", "Restock"), ("adjustment", "Adjustment"), ("reservation", "Reservation"), ("release", "Release"), ("sale", "Sale"), ("transfer", "Transfer")], max_length=16, verbose_name="kind"),
        ),
        # The old table steps aside (its constraint names go to the new one).
        migrations.RemoveConstraint(model_name="stock", name="catalog_stock_on_hand_not_negative"),
        migrations.RemoveConstraint(model_name="stock", name="catalog_stock_reserved_not_negative"),
        migrations.RemoveConstraint(model_name="stock", name="catalog_stock_reserved_within_on_hand"),
        migrations.AlterField(
            model_name="stock",
            name="product",
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="+", serialize=False, to="catalog.product", verbose_name="product"),
        ),
        migrations.RenameModel(old_name="Stock", new_name="LegacyStock"),
        migrations.CreateModel(
            name="Stock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("on_hand", models.IntegerField(default=0, verbose_name="on hand")),
                ("reserved", models.IntegerField(default=0, verbose_name="reserved")),
                ("product", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="stocks", to="catalog.product", verbose_name="product")),
                ("variant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="stocks", to="catalog.productvariant", verbose_name="variant")),
                ("warehouse", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="stocks", to="catalog.warehouse", verbose_name="warehouse")),
            ],
            options={
                "verbose_name": "stock", "verbose_name_plural": "stock", "ordering": ["variant_id", "warehouse_id"],
                "constraints": [
                    models.UniqueConstraint(fields=("variant", "warehouse"), name="catalog_stock_one_per_variant_warehouse"),
                    models.CheckConstraint(condition=Q(("on_hand__gte", 0)), name="catalog_stock_on_hand_not_negative"),
                    models.CheckConstraint(condition=Q(("reserved__gte", 0)), name="catalog_stock_reserved_not_negative"),
                    models.CheckConstraint(condition=Q(("reserved__lte", F("on_hand"))), name="catalog_stock_reserved_within_on_hand"),
                ],
            },
        ),
        migrations.RunPython(variants_and_stock_fill, variants_and_stock_unfill),
        migrations.DeleteModel(name="LegacyStock"),
        migrations.AlterField(
            model_name="stockmovement",
            name="variant",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="stock_movements", to="catalog.productvariant", verbose_name="variant"),
        ),
        migrations.AlterField(
            model_name="stockmovement",
            name="warehouse",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.warehouse", verbose_name="warehouse"),
        ),
        migrations.AlterField(
            model_name="stockreservation",
            name="variant",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="reservations", to="catalog.productvariant", verbose_name="variant"),
        ),
        migrations.AlterField(
            model_name="stockreservation",
            name="warehouse",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.warehouse", verbose_name="warehouse"),
        ),
    ]
