import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.exceptions import InvalidQuantity, OutOfStock
from catalog.models import Stock, StockMovement, StockReservation
from catalog.selectors.products import products_by_ids
from catalog.selectors.stock import product_available
from catalog.services.recommendations import product_purchase_record
from catalog.services.stock import (
    stock_adjust,
    stock_commit_sale,
    stock_release,
    stock_reserve,
    stock_restock,
    stock_sell,
)
from tests.catalog.factories import UserFactory, make_category, make_product


def _v(product):
    """The product's default variant id (what stock lines name)."""
    return product.variants.get(is_default=True).pk


pytestmark = pytest.mark.django_db


def _expires():
    return timezone.now() + timedelta(minutes=15)


def _stock(product):
    return Stock.objects.get(product=product)


def _assert_invariants(product):
    stock = _stock(product)
    moved = StockMovement.objects.filter(product=product).aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    open_units = (
        StockReservation.objects.filter(product=product, status=StockReservation.Status.OPEN).aggregate(
            q=Sum("quantity")
        )["q"]
        or 0
    )
    assert stock.on_hand == (moved["on_hand"] or 0)
    assert stock.reserved == (moved["reserved"] or 0) == open_units
    assert 0 <= stock.reserved <= stock.on_hand


def test_product_create_records_initial_stock_as_a_restock():
    product = make_product(on_hand=7)
    assert _stock(product).on_hand == 7
    movement = StockMovement.objects.get(product=product)
    assert movement.kind == StockMovement.Kind.RESTOCK and movement.on_hand_delta == 7
    _assert_invariants(product)


def test_reserve_then_release_returns_units_exactly_once():
    a, b = make_product(on_hand=5), make_product(on_hand=3)
    stock_reserve(lines=[(_v(b), 2), (_v(a), 4)], reference="ORD-1", expires_at=_expires())
    assert (_stock(a).reserved, _stock(b).reserved) == (4, 2)
    assert product_available(products_by_ids([a.pk])[a.pk]) == 1
    assert stock_release(reference="ORD-1", reason="cancelled") == 6
    assert stock_release(reference="ORD-1") == 0
    assert (_stock(a).reserved, _stock(b).reserved) == (0, 0)
    assert set(StockReservation.objects.values_list("status", flat=True)) == {"released"}
    _assert_invariants(a)
    _assert_invariants(b)


def test_commit_sale_takes_units_off_hand_exactly_once():
    product = make_product(on_hand=5)
    stock_reserve(lines=[(_v(product), 2)], reference="ORD-2", expires_at=_expires())
    assert stock_commit_sale(reference="ORD-2") == 2
    assert stock_commit_sale(reference="ORD-2") == 0
    assert stock_release(reference="ORD-2") == 0
    stock = _stock(product)
    assert (stock.on_hand, stock.reserved) == (3, 0)
    kinds = list(StockMovement.objects.filter(product=product).order_by("id").values_list("kind", flat=True))
    assert kinds == ["restock", "reservation", "sale"]
    _assert_invariants(product)


def test_out_of_stock_leaves_nothing_of_the_call():
    a, b = make_product(on_hand=5), make_product(on_hand=1)
    before = StockMovement.objects.count()
    with pytest.raises(OutOfStock) as info:
        stock_reserve(lines=[(_v(a), 2), (_v(b), 2)], reference="ORD-3", expires_at=_expires())
    assert info.value.product_id == b.pk
    assert info.value.available == 1
    assert info.value.as_dict()["code"] == "out_of_stock"
    assert _stock(a).reserved == 0 and _stock(b).reserved == 0
    assert StockMovement.objects.count() == before
    assert not StockReservation.objects.filter(reference="ORD-3").exists()


def test_duplicate_lines_are_summed_before_the_guard():
    product = make_product(on_hand=3)
    with pytest.raises(OutOfStock):
        stock_reserve(lines=[(_v(product), 2), (_v(product), 2)], reference="ORD-4", expires_at=_expires())
    stock_reserve(lines=[(_v(product), 1), (_v(product), 2)], reference="ORD-5", expires_at=_expires())
    assert StockReservation.objects.get(reference="ORD-5").quantity == 3


def test_inactive_product_cannot_be_reserved():
    product = make_product(on_hand=3, is_active=False)
    with pytest.raises(OutOfStock):
        stock_reserve(lines=[(_v(product), 1)], reference="ORD-6", expires_at=_expires())


@pytest.mark.parametrize("quantity", [0, -1, True, "2"])
def test_bad_quantities_are_refused(quantity):
    product = make_product(on_hand=3)
    with pytest.raises(InvalidQuantity):
        stock_reserve(lines=[(_v(product), quantity)], reference="ORD-7", expires_at=_expires())
    with pytest.raises(InvalidQuantity):
        stock_restock(product_id=product.pk, quantity=quantity, reason="x")


def test_restock_and_adjustment_record_who_and_why():
    staff = UserFactory(is_staff=True)
    product = make_product(on_hand=0)
    stock_restock(product_id=product.pk, quantity=10, actor=staff, reason="delivery", reference="PO-9")
    stock_reserve(lines=[(_v(product), 4)], reference="ORD-8", expires_at=_expires())
    with pytest.raises(OutOfStock):
        stock_adjust(product_id=product.pk, delta=-7, actor=staff, reason="damaged")
    stock_adjust(product_id=product.pk, delta=-6, actor=staff, reason="damaged")
    assert _stock(product).on_hand == 4
    restock = StockMovement.objects.get(product=product, kind="restock")
    assert (restock.actor, restock.reason, restock.reference) == (staff, "delivery", "PO-9")
    _assert_invariants(product)


def test_database_refuses_impossible_stock_counts():
    product = make_product(on_hand=2)
    for values in ({"on_hand": -1}, {"reserved": -1}, {"reserved": 3}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Stock.objects.filter(product=product).update(**values)


def test_purchase_record_is_idempotent_per_reference_and_product():
    user = UserFactory()
    a, b = make_product(), make_product()
    product_purchase_record(user=user, lines=[(a.pk, 1), (b.pk, 2)], reference="ORD-10")
    product_purchase_record(user=user, lines=[(a.pk, 1), (b.pk, 2)], reference="ORD-10")
    assert user.product_purchases.count() == 2
    assert user.product_purchases.get(product=b).quantity == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["reserve", "release", "sell", "restock"]), st.integers(0, 4), st.integers(1, 4)),
        max_size=25,
    )
)
def test_random_operations_keep_stock_invariants(ops):
    with transaction.atomic():
        product = make_product(category=make_category(), on_hand=3)
        for i, (op, ref, qty) in enumerate(ops):
            reference = f"R-{product.pk}-{ref}"
            if op == "reserve":
                try:
                    stock_reserve(lines=[(_v(product), qty)], reference=f"{reference}-{i}", expires_at=_expires())
                except OutOfStock:
                    pass
            elif op == "release":
                stock_release(reference=f"{reference}-{i - 1}")
            elif op == "sell":
                stock_commit_sale(reference=f"{reference}-{i - 2}")
            else:
                stock_restock(product_id=product.pk, quantity=qty, reason="test")
            _assert_invariants(product)
        transaction.set_rollback(True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_of_the_last_units_never_oversell():
    product = make_product(on_hand=5)
    barrier = threading.Barrier(10)
    outcomes = []

    def buy(i):
        try:
            barrier.wait()
            stock_reserve(lines=[(_v(product), 1)], reference=f"C-{i}", expires_at=_expires())
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("out")
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 5 and outcomes.count("out") == 5
    stock = _stock(product)
    assert (stock.on_hand, stock.reserved) == (5, 5)
    _assert_invariants(product)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_release_and_sale_settle_a_reservation_once():
    product = make_product(on_hand=5)
    stock_reserve(lines=[(_v(product), 3)], reference="ORD-R", expires_at=_expires())
    barrier = threading.Barrier(6)
    results = []

    def act(i):
        try:
            barrier.wait()
            fn = stock_release if i % 2 else stock_commit_sale
            results.append(fn(reference="ORD-R"))
        finally:
            connection.close()

    threads = [threading.Thread(target=act, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 0, 0, 0, 0, 3]
    stock = _stock(product)
    assert stock.reserved == 0 and stock.on_hand in (2, 5)
    _assert_invariants(product)


def test_a_sale_in_one_step_is_guarded_recorded_and_leaves_reservations_alone():
    product = make_product(on_hand=5)
    stock_reserve(lines=[(_v(product), 2)], reference="ORD-R", expires_at=_expires())
    stock_sell(lines=[(_v(product), 1), (_v(product), 2)], reference="ORD-S")
    stock = _stock(product)
    assert (stock.on_hand, stock.reserved) == (2, 2)  # 3 sold; the other order's 2 stay reserved
    sale = StockReservation.objects.get(reference="ORD-S")
    assert (sale.quantity, sale.status) == (3, StockReservation.Status.SOLD)
    assert StockMovement.objects.get(reference="ORD-S").on_hand_delta == -3
    _assert_invariants(product)


def test_a_sale_beyond_what_is_free_ends_the_transaction_with_nothing_sold():
    a, b = make_product(on_hand=5), make_product(on_hand=3)
    stock_reserve(lines=[(_v(b), 2)], reference="ORD-R", expires_at=_expires())
    with pytest.raises(OutOfStock) as info:
        with transaction.atomic():  # as the order's transaction
            stock_sell(lines=[(_v(a), 1), (_v(b), 2)], reference="ORD-S")
    assert (info.value.product_id, info.value.available) == (b.pk, 1)
    assert (_stock(a).on_hand, _stock(b).on_hand, _stock(b).reserved) == (5, 3, 2)
    assert not StockReservation.objects.filter(reference="ORD-S").exists()
    assert not StockMovement.objects.filter(reference="ORD-S").exists()
    with pytest.raises(OutOfStock):
        stock_sell(lines=[(_v(make_product(on_hand=3, is_active=False)), 1)], reference="ORD-I")
