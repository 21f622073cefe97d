"""Stock per variant and warehouse: allocation, transfer, import, report, admin actions."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Sum

from catalog.exceptions import ImportFailed, InvalidQuantity, OutOfStock, StockInvalid
from catalog.models import Stock, StockMovement
from catalog.services.stock import stock_adjust, stock_reserve, stock_restock, stock_sell, stock_transfer
from catalog.services.stock_import import stock_import_csv
from catalog.services.warehouses import Candidate, allocation_plan, warehouse_default
from tests.catalog.factories import default_variant, make_product, make_warehouse

pytestmark = pytest.mark.django_db


def _levels(variant):
    return {
        s.warehouse.code: (s.on_hand, s.reserved)
        for s in Stock.objects.filter(variant=variant).select_related("warehouse")
    }


def _assert_balanced(variant):
    for stock in Stock.objects.filter(variant=variant):
        moved = StockMovement.objects.filter(variant=variant, warehouse=stock.warehouse).aggregate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
        assert (stock.on_hand, stock.reserved) == (moved["on_hand"] or 0, moved["reserved"] or 0)


def _c(wid, available, priority=0, country="DE"):
    return Candidate(stock_id=wid, variant_id=1, warehouse_id=wid, available=available, priority=priority,
                     country=country)


def test_plan_prefers_one_warehouse_for_the_whole_line_by_priority_then_country():
    plan = allocation_plan([_c(1, 3, 0), _c(2, 9, 1, "US"), _c(3, 9, 1, "DE")], 5, country="DE")
    assert [(c.warehouse_id, q) for c, q in plan] == [(3, 5)]
    plan = allocation_plan([_c(1, 9, 0, "US"), _c(2, 9, 0, "DE")], 5, country="DE")
    assert [(c.warehouse_id, q) for c, q in plan] == [(2, 5)]


def test_plan_splits_when_no_warehouse_can_serve_the_line_and_refuses_when_all_cannot():
    plan = allocation_plan([_c(1, 4, 1), _c(2, 6, 0)], 10)
    assert [(c.warehouse_id, q) for c, q in plan] == [(2, 6), (1, 4)]
    assert allocation_plan([_c(1, 4), _c(2, 5)], 10) == []


def test_reserve_splits_over_warehouses_and_skips_inactive_and_non_shipping_ones():
    product = make_product(on_hand=0)
    variant = default_variant(product)
    main = warehouse_default()
    us = make_warehouse("us", country="US", priority=5)
    uk_only = make_warehouse("uk", country="GB", priority=0, ships_to=["GB"])
    stock_restock(variant_id=variant.pk, warehouse_id=main.pk, quantity=6, reason="t")
    stock_restock(variant_id=variant.pk, warehouse_id=us.pk, quantity=4, reason="t")
    stock_restock(variant_id=variant.pk, warehouse_id=uk_only.pk, quantity=50, reason="t")
    allocations = stock_reserve(lines=[(variant.pk, 10)], reference="A-1", expires_at="2030-01-01T00:00:00Z",
                                country="DE")
    assert sorted((a.warehouse_id, a.quantity) for a in allocations) == [(main.pk, 6), (us.pk, 4)]
    assert _levels(variant) == {"main": (6, 6), "us": (4, 4), "uk": (50, 0)}
    us.is_active = False
    us.save()
    with pytest.raises(OutOfStock) as info, transaction.atomic():  # as the order's transaction
        stock_sell(lines=[(variant.pk, 1)], reference="A-2", country="DE")
    assert (info.value.variant_id, info.value.requested, info.value.available) == (variant.pk, 1, 0)
    _assert_balanced(variant)


def test_transfer_moves_free_units_with_two_balanced_movements_and_refuses_more():
    product = make_product(on_hand=5)
    variant = default_variant(product)
    us = make_warehouse("us", country="US", priority=5)
    stock_reserve(lines=[(variant.pk, 2)], reference="T-0", expires_at="2030-01-01T00:00:00Z")
    stock_transfer(variant_id=variant.pk, from_warehouse_id=warehouse_default().pk, to_warehouse_id=us.pk,
                   quantity=3, reason="rebalance")
    assert _levels(variant) == {"main": (2, 2), "us": (3, 0)}
    moves = list(StockMovement.objects.filter(kind=StockMovement.Kind.TRANSFER).values_list("on_hand_delta", flat=True))
    assert sorted(moves) == [-3, 3]
    with pytest.raises(OutOfStock) as info:
        stock_transfer(variant_id=variant.pk, from_warehouse_id=warehouse_default().pk, to_warehouse_id=us.pk,
                       quantity=1, reason="too much")
    assert info.value.field == "quantity"
    with pytest.raises(InvalidQuantity):
        stock_transfer(variant_id=variant.pk, from_warehouse_id=us.pk, to_warehouse_id=us.pk, quantity=-1, reason="x")
    with pytest.raises(StockInvalid) as same:
        stock_transfer(variant_id=variant.pk, from_warehouse_id=us.pk, to_warehouse_id=us.pk, quantity=1, reason="x")
    assert same.value.field == "to_warehouse"
    assert _levels(variant) == {"main": (2, 2), "us": (3, 0)}
    _assert_balanced(variant)


def test_adjust_never_goes_below_reserved_in_that_warehouse():
    product = make_product(on_hand=5)
    variant = default_variant(product)
    stock_reserve(lines=[(variant.pk, 4)], reference="J-1", expires_at="2030-01-01T00:00:00Z")
    with pytest.raises(OutOfStock):
        stock_adjust(variant_id=variant.pk, delta=-2, reason="damaged")
    stock_adjust(variant_id=variant.pk, delta=-1, reason="damaged")
    assert _levels(variant) == {"main": (4, 4)}
    _assert_balanced(variant)


def test_stock_import_sets_levels_all_or_nothing_and_names_row_and_column(tmp_path):
    a, b = make_product(on_hand=5), make_product(on_hand=1)
    us = make_warehouse("us", country="US")
    va, vb = default_variant(a), default_variant(b)
    stock_reserve(lines=[(vb.pk, 1)], reference="I-1", expires_at="2030-01-01T00:00:00Z")
    bad_rows = [
        (f"{va.sku},us,3\nNOPE,main,1\n", 3, "sku"),
        (f"{va.sku},us,3\n{vb.sku},mars,1\n", 3, "warehouse"),
        (f"{va.sku},us,-1\n", 2, "on_hand"),
        (f"{va.sku},us,x\n", 2, "on_hand"),
        (f"{va.sku},us,3\n{vb.sku},main,0\n", 3, "on_hand"),  # 1 unit is reserved
        (f"{va.sku},us,3\n{va.sku},us,4\n", 3, "sku"),
    ]
    for body, row, column in bad_rows:
        with pytest.raises(ImportFailed) as info:
            stock_import_csv(data="sku,warehouse,on_hand\n" + body)
        assert info.value.field == column and f"Row {row}, column {column}" in str(info.value.message)
    assert _levels(va) == {"main": (5, 0)} and _levels(vb) == {"main": (1, 1)}
    path = tmp_path / "feed.csv"
    path.write_text(f"sku,warehouse,on_hand\n{va.sku},us,3\n{va.sku},main,2\n{vb.sku},main,1\n")
    call_command("stock_import", str(path))
    assert _levels(va) == {"main": (2, 0), "us": (3, 0)}
    _assert_balanced(va)
    path.write_text("sku,warehouse,on_hand\nNOPE,us,1\n")
    with pytest.raises(CommandError, match="Row 2, column sku"):
        call_command("stock_import", str(path))
    assert us.stocks.count() == 1


def test_stock_report_lists_each_variant_and_warehouse_as_json(capsys):
    product = make_product(on_hand=5)
    make_product(on_hand=1)
    variant = default_variant(product)
    stock_reserve(lines=[(variant.pk, 2)], reference="R-1", expires_at="2030-01-01T00:00:00Z")
    stock_sell(lines=[(variant.pk, 1)], reference="S-1")  # sold, not shipped: committed
    call_command("stock_report", "--sku", variant.sku, "--json")
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"sku": variant.sku, "warehouse": "main", "warehouse_active": True, "on_hand": 4, "reserved": 2,
                     "available": 2, "committed": 1, "physical": 5}]
    call_command("stock_report", "--sku", variant.sku)
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["sku", "warehouse", "on_hand", "reserved", "available", "committed", "physical"]
    assert table[1].split() == [variant.sku, "main", "4", "2", "2", "1", "5"]


def test_admin_stock_views_show_the_committed_units(admin_client):
    product = make_product(on_hand=5)
    variant = default_variant(product)
    stock_sell(lines=[(variant.pk, 3)], reference="S-2")
    listing = admin_client.get("/admin/catalog/stock/").content.decode()
    assert "sold, awaiting shipment" in listing.lower()
    assert '<td class="field-committed">3</td>' in listing
    page = admin_client.get(f"/admin/catalog/product/{product.pk}/change/").content.decode()
    assert "Sold, awaiting shipment" in page and "2 on hand, 0 reserved, 3 committed" in page


def test_admin_transfer_action_moves_stock_and_reports_a_refusal(admin_client):
    product = make_product(on_hand=5)
    variant = default_variant(product)
    us = make_warehouse("us", country="US")
    row = Stock.objects.get(variant=variant)
    url = "/admin/catalog/stock/"
    page = admin_client.post(url, {"action": "transfer", "_selected_action": [row.pk]})
    assert page.status_code == 200 and b"To warehouse" in page.content
    data = {"action": "transfer", "_selected_action": [row.pk], "apply": "1", "to_warehouse": us.pk,
            "quantity": 4, "reason": "rebalance"}
    assert admin_client.post(url, data).status_code == 302
    assert _levels(variant) == {"main": (1, 0), "us": (4, 0)}
    response = admin_client.post(url, {**data, "quantity": 2}, follow=True)
    assert b"Not enough stock" in response.content
    assert _levels(variant) == {"main": (1, 0), "us": (4, 0)}
    assert admin_client.post(url, {**data, "action": "adjust", "delta": -1, "reason": "broken"}).status_code == 302
    assert _levels(variant) == {"main": (0, 0), "us": (4, 0)}
    _assert_balanced(variant)
