"""A state machine over reserve / release / sell / ship / cancel a sale / restock / transfer / expire across two
warehouses: every counter (on hand, reserved, committed) equals the sum of its movements and never goes below zero."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from catalog.exceptions import OutOfStock, StockNotCommitted
from catalog.models import Stock, StockMovement, StockReservation, Warehouse
from catalog.services.stock import (
    stock_commit_sale,
    stock_release,
    stock_reserve,
    stock_restock,
    stock_sale_cancel,
    stock_sell,
    stock_ship,
    stock_transfer,
)
from tests.catalog.factories import default_variant, make_product, make_warehouse

pytestmark = pytest.mark.django_db

_n = iter(range(10**9))


class StockMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_n)
        self.variant = default_variant(make_product(on_hand=2))
        self.warehouses = [Warehouse.objects.get(code="main").pk, make_warehouse(f"w{n}", country="US", priority=3).pk]
        self.open: list[str] = []
        self.units = 2  # units on hand over both warehouses, as the model sees it
        self.count = 0
        self.sold: list[list[int]] = []  # [warehouse id, units sold and not yet shipped] per sold allocation
        self.committed = 0

    def _ref(self) -> str:
        self.count += 1
        return f"SM-{self.variant.pk}-{self.count}"

    @rule(quantity=st.integers(1, 4), country=st.sampled_from(["", "DE", "US"]))
    def reserve(self, quantity, country):
        ref = self._ref()
        try:
            stock_reserve(lines=[(self.variant.pk, quantity)], reference=ref, country=country,
                          expires_at=timezone.now() + timedelta(minutes=5))
            self.open.append(ref)
        except OutOfStock:
            pass

    @rule(quantity=st.integers(1, 3))
    def sell_at_once(self, quantity):
        try:
            with transaction.atomic():  # the order's transaction: a refused sale ends it
                allocations = stock_sell(lines=[(self.variant.pk, quantity)], reference=self._ref())
            assert sum(a.quantity for a in allocations) == quantity
            self.units -= quantity
            self.committed += quantity
            self.sold.extend([a.warehouse_id, a.quantity] for a in allocations)
        except OutOfStock:
            pass

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def release(self, data):
        ref = data.draw(st.sampled_from(self.open))
        stock_release(reference=ref)
        assert stock_release(reference=ref) == 0  # once
        self.open.remove(ref)

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def sell_reserved(self, data):
        ref = data.draw(st.sampled_from(self.open))
        sold = stock_commit_sale(reference=ref)
        self.units -= sold
        self.committed += sold
        self.sold.extend(
            [wid, qty] for wid, qty in StockReservation.objects.filter(reference=ref).values_list("warehouse_id", "quantity")
        )
        self.open.remove(ref)

    @precondition(lambda self: self.sold)
    @rule(data=st.data(), whole=st.booleans())
    def ship(self, data, whole):
        allocation = data.draw(st.sampled_from(self.sold))
        units = allocation[1] if whole else 1
        ref = self._ref()
        stock_ship(lines=[(self.variant.pk, allocation[0], units)], reference=ref)
        # The same parcel again moves nothing: too few units left, or the reference already shipped the row.
        with pytest.raises((IntegrityError, StockNotCommitted)), transaction.atomic():
            stock_ship(lines=[(self.variant.pk, allocation[0], units)], reference=ref)
        self._sold_take(allocation, units)

    @precondition(lambda self: self.sold)
    @rule(data=st.data())
    def cancel_sale(self, data):
        allocation = data.draw(st.sampled_from(self.sold))
        units = allocation[1]
        stock_sale_cancel(lines=[(self.variant.pk, allocation[0], units)], reference=self._ref())
        self.units += units
        self._sold_take(allocation, units)

    @rule(which=st.integers(0, 1))
    def ship_more_than_committed(self, which):
        wid = self.warehouses[which]
        waiting = sum(units for w, units in self.sold if w == wid)
        with pytest.raises(StockNotCommitted), transaction.atomic():
            stock_ship(lines=[(self.variant.pk, wid, waiting + 1)], reference=self._ref())

    def _sold_take(self, allocation, units):
        allocation[1] -= units
        self.committed -= units
        if not allocation[1]:
            self.sold.remove(allocation)

    @precondition(lambda self: self.open)
    @rule()
    def expire(self):
        stock_release(reference=self.open.pop(0), reason="expired")

    @rule(which=st.integers(0, 1), quantity=st.integers(1, 5))
    def restock(self, which, quantity):
        stock_restock(variant_id=self.variant.pk, warehouse_id=self.warehouses[which], quantity=quantity, reason="t")
        self.units += quantity

    @rule(which=st.integers(0, 1), quantity=st.integers(1, 5))
    def transfer(self, which, quantity):
        try:
            stock_transfer(variant_id=self.variant.pk, from_warehouse_id=self.warehouses[which],
                           to_warehouse_id=self.warehouses[1 - which], quantity=quantity, reason="t")
        except OutOfStock:
            pass

    @invariant()
    def counters_are_their_movements(self):
        for stock in Stock.objects.filter(variant=self.variant):
            moved = StockMovement.objects.filter(variant=self.variant, warehouse=stock.warehouse_id).aggregate(
                on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"), committed=Sum("committed_delta")
            )
            held = StockReservation.objects.filter(
                variant=self.variant, warehouse=stock.warehouse_id, status=StockReservation.Status.OPEN
            ).aggregate(q=Sum("quantity"))["q"] or 0
            assert (stock.on_hand, stock.reserved) == (moved["on_hand"] or 0, moved["reserved"] or 0)
            assert stock.reserved == held
            assert 0 <= stock.reserved <= stock.on_hand
            assert stock.committed == (moved["committed"] or 0) >= 0
            assert stock.committed == sum(units for w, units in self.sold if w == stock.warehouse_id)
        total = Stock.objects.filter(variant=self.variant).aggregate(n=Sum("on_hand"), c=Sum("committed"))
        assert (total["n"], total["c"]) == (self.units, self.committed)


def test_stock_state_machine_keeps_counters_equal_to_movements():
    with transaction.atomic():
        run_state_machine_as_test(
            StockMachine,
            settings=settings(max_examples=15, stateful_step_count=20, deadline=None,
                              suppress_health_check=list(HealthCheck)),
        )
        transaction.set_rollback(True)
