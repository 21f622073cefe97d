"""Flash sale of one variant whose stock is split over two warehouses, with real concurrent checkouts."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Sum

from catalog.exceptions import OutOfStock
from catalog.models import Stock, Warehouse
from catalog.services.stock import stock_restock
from shop.cart.services import CartOwner, cart_line_add
from shop.orders.models import Order, OrderLine, OrderLineAllocation
from shop.orders.services.checkout import order_place
from tests.catalog.factories import make_apparel, make_warehouse
from tests.orders.factories import shopper_new
from tests.reliability.helpers import assert_invariants
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BUYERS = 30


def _sale(*, switch_off_us_after: int | None = None):
    product, variants = make_apparel(sizes=("M",), colours=("Red",), price="10.00")
    variant = variants[("M", "Red")]
    main = Warehouse.objects.get(code="main")
    us = make_warehouse("us", country="US", priority=5)
    stock_restock(variant_id=variant.pk, warehouse_id=main.pk, quantity=6, reason="sale")
    stock_restock(variant_id=variant.pk, warehouse_id=us.pk, quantity=4, reason="sale")
    buyers = []
    for _ in range(BUYERS):
        user = shopper_new(funds="25.00")
        cart_line_add(owner=CartOwner(user=user), variant_id=variant.pk, quantity=1)
        buyers.append(user)
    barrier = threading.Barrier(BUYERS)
    outcomes: list[str] = []
    started = Counter()
    lock = threading.Lock()

    def buy(user):
        try:
            barrier.wait()
            with lock:
                started["n"] += 1
                if switch_off_us_after is not None and started["n"] == switch_off_us_after:
                    Warehouse.objects.filter(pk=us.pk).update(is_active=False)
            order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD")
            outcomes.append("paid")
        except OutOfStock:
            outcomes.append("out_of_stock")
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(user,)) for user in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return variant, main, us, Counter(outcomes)


def test_flash_sale_over_two_warehouses_sells_exactly_the_ten_units():
    variant, main, us, outcomes = _sale()
    assert outcomes == {"paid": 10, "out_of_stock": BUYERS - 10}, outcomes
    levels = dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "on_hand"))
    assert levels == {"main": 0, "us": 0}
    assert Stock.objects.filter(variant=variant).aggregate(r=Sum("reserved"))["r"] == 0
    allocated = dict(
        OrderLineAllocation.objects.values("warehouse__code").annotate(n=Sum("quantity")).values_list(
            "warehouse__code", "n"
        )
    )
    assert allocated == {"main": 6, "us": 4}
    assert OrderLine.objects.filter(variant=variant).aggregate(n=Sum("quantity"))["n"] == 10
    assert Order.objects.filter(status=Order.Status.PAID).count() == 10
    assert_invariants()


def test_a_warehouse_switched_off_mid_sale_sells_only_what_it_gave_before():
    """The 8th buyer to start switches "us" off: after that it serves nobody, and nothing else fails."""
    variant, main, us, outcomes = _sale(switch_off_us_after=8)
    from_us = OrderLineAllocation.objects.filter(warehouse=us).aggregate(n=Sum("quantity"))["n"] or 0
    assert set(outcomes) <= {"paid", "out_of_stock"}, outcomes
    assert outcomes["paid"] == 6 + from_us and outcomes["paid"] + outcomes["out_of_stock"] == BUYERS
    levels = dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "on_hand"))
    assert levels == {"main": 0, "us": 4 - from_us}
    assert Stock.objects.filter(variant=variant).aggregate(r=Sum("reserved"))["r"] == 0
    assert_invariants()


def test_a_warehouse_switched_off_before_the_sale_sells_nothing():
    variant, main, us, outcomes = _sale(switch_off_us_after=1)
    assert outcomes == {"paid": 6, "out_of_stock": BUYERS - 6}, outcomes
    levels = dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "on_hand"))
    assert levels == {"main": 0, "us": 4}
    assert not OrderLineAllocation.objects.filter(warehouse=us).exists()
    assert_invariants()
