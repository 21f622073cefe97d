"""The variants migration on data made at the schema before it: nothing lost, invariants kept."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum

BEFORE = [("catalog", "0003_facet_counts_sort_indexes_labels")]
AFTER = [("catalog", "0004_variants_warehouses")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _seed_before(apps):
    Category = apps.get_model("catalog", "Category")
    Product = apps.get_model("catalog", "Product")
    Stock = apps.get_model("catalog", "Stock")
    StockMovement = apps.get_model("catalog", "StockMovement")
    StockReservation = apps.get_model("catalog", "StockReservation")
    category = Category.objects.create(path="0001", depth=1, numchild=0, name="Shirts", slug="shirts")
    made = []
    for n, (on_hand, reserved) in enumerate([(7, 2), (0, 0), (5, 5)]):
        product = Product.objects.create(
            sku=f"OLD-{n}", slug=f"old-{n}", name=f"Old {n}", category=category,
            price=Decimal("9.50"), price_currency="USD",
        )
        Stock.objects.create(product=product, on_hand=on_hand, reserved=reserved)
        if on_hand:
            StockMovement.objects.create(product=product, kind="restock", on_hand_delta=on_hand, reason="delivery")
        if reserved:
            StockMovement.objects.create(product=product, kind="reservation", reserved_delta=reserved, reference="R")
            StockReservation.objects.create(
                product=product, quantity=reserved, reference=f"R-{n}", expires_at="2030-01-01T00:00:00Z"
            )
        made.append((product.pk, product.sku, on_hand, reserved))
    # A product that never had a stock row gets an empty one.
    lonely = Product.objects.create(
        sku="OLD-X", slug="old-x", name="Old X", category=category, price=Decimal("1"), price_currency="USD"
    )
    made.append((lonely.pk, lonely.sku, 0, 0))
    return made


@pytest.mark.django_db(transaction=True)
def test_every_product_gets_a_default_variant_and_keeps_its_stock_and_history():
    made = _seed_before(_migrate(BEFORE))
    apps = _migrate(AFTER)
    Stock = apps.get_model("catalog", "Stock")
    StockMovement = apps.get_model("catalog", "StockMovement")
    StockReservation = apps.get_model("catalog", "StockReservation")
    Warehouse = apps.get_model("catalog", "Warehouse")
    ProductVariant = apps.get_model("catalog", "ProductVariant")
    warehouse = Warehouse.objects.get()
    assert warehouse.is_active and warehouse.code == "main"
    for product_id, sku, on_hand, reserved in made:
        variant = ProductVariant.objects.get(product_id=product_id)
        assert (variant.sku, variant.is_default, variant.price) == (sku, True, None)
        stock = Stock.objects.get(variant=variant)
        assert (stock.warehouse_id, stock.product_id, stock.on_hand, stock.reserved) == (
            warehouse.pk, product_id, on_hand, reserved
        )
        moved = StockMovement.objects.filter(variant=variant, warehouse=warehouse).aggregate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
        assert ((moved["on_hand"] or 0), (moved["reserved"] or 0)) == (on_hand, reserved)
        held = StockReservation.objects.filter(variant=variant, warehouse=warehouse, status="open")
        assert (held.aggregate(q=Sum("quantity"))["q"] or 0) == reserved
    assert not StockMovement.objects.filter(variant__isnull=True).exists()
    assert StockMovement.objects.count() == 4
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_reverses_to_one_stock_row_per_product():
    made = _seed_before(_migrate(BEFORE))
    _migrate(AFTER)
    apps = _migrate(BEFORE)
    Stock = apps.get_model("catalog", "Stock")
    assert sorted(Stock.objects.values_list("product_id", "on_hand", "reserved")) == sorted(
        (pid, on_hand, reserved) for pid, _sku, on_hand, reserved in made
    )
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
