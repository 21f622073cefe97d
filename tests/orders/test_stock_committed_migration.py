"""The data migration that introduced `committed`: on a database from before it, it counts the paid units not yet
shipped, and the stock reconciliation then finds nothing."""

import importlib
from datetime import date

import pytest
from django.apps import apps

from catalog.models import Stock, StockMovement
from catalog.reconciliation import stock_check
from catalog.services.stock import stock_restock
from shop.orders.reconciliation import stock_committed_check
from shop.orders.services.checkout import order_place
from shop.orders.services.shipments import shipment_create
from tests.catalog.factories import make_warehouse
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

migration = importlib.import_module("shop.orders.migrations.0010_stock_committed_for_unshipped_paid_orders")


def _paid(user, *lines):
    cart_fill(user, *lines)
    return order_place(
        shipping_method=shipping_method_everywhere(),
        user=user,
        payment_method="wallet",
        shipping_address=user.addresses.first().pk,
        currency="USD",
    ).order


def test_the_migration_commits_the_paid_units_not_yet_shipped_and_reconciliation_agrees():
    a = make_product(price="10.00", on_hand=2)
    b = make_product(price="10.00", on_hand=5)
    east = make_warehouse("east", priority=5)
    stock_restock(product_id=a.pk, warehouse_id=east.pk, quantity=3, reason="delivery")
    user = shopper_new(funds="500.00")
    split = _paid(user, (a, 4), (b, 1))  # A: 2 main + 2 east; B: 1 main
    line_a, line_b = split.lines.get(product=a), split.lines.get(product=b)
    main = line_b.allocations.get().warehouse
    shipment_create(
        order=split, lines={line_a: 2, line_b: 1}, warehouse=main, carrier=carrier_new(), tracking_number="M1"
    )  # partially shipped: east's 2 of A still wait
    _paid(user, (b, 2))  # paid, nothing shipped
    expected = {(row.variant_id, row.warehouse_id): row.committed for row in Stock.objects.all()}
    assert sorted(expected.values()) == [0, 2, 2]
    # The database as it was before the counter: nothing committed, no movement saying so.
    Stock.objects.update(committed=0)
    StockMovement.objects.update(committed_delta=0)

    migration.committed_set(apps, None)

    assert {(row.variant_id, row.warehouse_id): row.committed for row in Stock.objects.all()} == expected
    assert StockMovement.objects.filter(reference=migration.REFERENCE).count() == 2
    findings = []
    stock_check(day=date.today(), report=findings.append)
    stock_committed_check(day=date.today(), report=findings.append)
    assert findings == []
    migration.committed_unset(apps, None)
    assert not Stock.objects.filter(committed__gt=0).exists()
