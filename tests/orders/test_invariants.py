"""Random sequences of checkouts, cancellations, expiries, shipments and refunds never break
the stock or the ledger (hypothesis drives the sequence)."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Stock, StockReservation
from payments.services.charges import payment_create
from shop.cart.services import CartOwner, cart_clear
from shop.core.exceptions import ShopError
from shop.orders.models import Order
from shop.orders.services.checkout import _address_snapshot, _order_create, checkout_lines, order_place
from shop.orders.services.returns import return_request_approve, return_request_create
from shop.orders.services.transitions import order_cancel, order_expire_reservations, order_refund
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced
from tests.orders.shipments import ship_all
from tests.shipping.factories import shipping_method_everywhere

OPS = st.lists(
    st.tuples(
        st.sampled_from(["wallet", "card_pending", "cancel", "expire", "ship", "refund", "return"]),
        st.integers(min_value=0, max_value=2),  # which shopper
        st.integers(min_value=1, max_value=4),  # quantity
    ),
    min_size=1,
    max_size=12,
)


def _card_pending(user, product, quantity):
    cart_fill(user, (product, quantity))
    order = _order_create(
        user=user, currency="USD", method="card",
        address=_address_snapshot(user=user, shipping_address=user.addresses.first().pk),
        lines=checkout_lines(user=user, currency="USD"), checkout_token="",
    )
    payment = payment_create(user=user, purpose="order", reference=order.number, amount=order.total, method="card", card_token="tok_ok")
    Order.objects.filter(pk=order.pk).update(payment_id=payment.pk)


def _check_invariants(product):
    stock = Stock.objects.get(product_id=product.id)
    open_units = (
        StockReservation.objects.filter(product_id=product.id, status="open").aggregate(n=Sum("quantity"))["n"] or 0
    )
    assert stock.reserved == open_units
    assert 0 <= stock.reserved <= stock.on_hand
    for order in Order.objects.filter(lines__product=product).distinct():
        statuses = set(StockReservation.objects.filter(reference=order.number).values_list("status", flat=True))
        expected = {
            Order.Status.PENDING_PAYMENT: {"open"},
            Order.Status.CANCELLED: {"released"},
        }.get(order.status, {"sold"})
        assert statuses == expected, (order.status, statuses)
        assert order.refunded_total <= order.total
    assert_ledger_balanced()


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_random_order_life_cycles_keep_stock_and_ledger_consistent(ops):
    product = make_product(price="7.00", on_hand=8)
    users = [shopper_new(funds="60.00") for _ in range(3)]
    for kind, who, quantity in ops:
        user = users[who]
        mine = Order.objects.filter(user=user, lines__product=product).order_by("-id")
        try:
            if kind == "wallet":
                cart_fill(user, (product, quantity))
                order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD")
            elif kind == "card_pending":
                _card_pending(user, product, quantity)
            elif kind == "cancel" and (order := mine.filter(status="pending_payment").first()):
                order_cancel(order_id=order.id, actor=user)
            elif kind == "expire":
                Order.objects.filter(status="pending_payment").update(
                    reservation_expires_at=timezone.now() - timedelta(seconds=1)
                )
                order_expire_reservations()
            elif kind == "ship" and (order := mine.filter(status="paid").first()):
                ship_all(order)
            elif kind == "refund" and (order := mine.filter(status__in=["paid", "shipped"]).first()):
                order_refund(order_id=order.id)
            elif kind == "return" and (order := mine.filter(status="shipped").first()):
                line = order.lines.get()
                if line.returnable_quantity:
                    request = return_request_create(
                        order_id=order.id, user=user, lines={line.id: min(quantity, line.returnable_quantity)}, reason="r"
                    )
                    return_request_approve(return_id=request.id)
        except ShopError:
            pass  # refusals (out of stock, insufficient funds, invalid edges) are allowed outcomes
        finally:
            cart_clear(owner=CartOwner(user=user))
        _check_invariants(product)
