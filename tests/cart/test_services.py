from decimal import Decimal

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from djmoney.money import Money

from catalog.exceptions import OutOfStock
from catalog.services.products import product_update
from catalog.services.stock import stock_adjust
from shop.cart.exceptions import InvalidQuantity, ProductUnavailable
from shop.cart.models import CartLine
from shop.cart.selectors import cart_get
from shop.cart.services import (
    CartOwner,
    cart_clear,
    cart_line_add,
    cart_line_remove,
    cart_line_update,
    cart_merge,
)
from tests.orders.factories import UserFactory, make_product

pytestmark = pytest.mark.django_db


def guest():
    return CartOwner(session=SessionStore())


def test_adding_twice_adds_the_quantities(shopper, product):
    owner = CartOwner(user=shopper)
    assert cart_line_add(owner=owner, product_id=product.id, quantity=2) == 2
    assert cart_line_add(owner=owner, product_id=product.id, quantity=3) == 5
    line = CartLine.objects.get(cart__user=shopper)
    assert line.quantity == 5
    assert line.price_seen == Money("10.00", "USD")


def test_guest_cart_lives_in_the_session(product):
    owner = guest()
    cart_line_add(owner=owner, product_id=product.id, quantity=2)
    cart_line_add(owner=owner, product_id=product.id, quantity=1)
    assert owner.session["cart"][str(product.id)]["quantity"] == 3
    assert not CartLine.objects.exists()
    cart = cart_get(owner=owner, currency="USD")
    assert cart.subtotal == Money("30.00", "USD")
    assert cart.item_count == 3


@pytest.mark.parametrize("quantity", [0, -1, 100, 10**9, 2.5, "3", True, None])
def test_bad_quantities_are_refused_and_change_nothing(shopper, product, quantity):
    with pytest.raises(InvalidQuantity) as exc:
        cart_line_add(owner=CartOwner(user=shopper), product_id=product.id, quantity=quantity)
    assert exc.value.field == "quantity"
    assert exc.value.status_code == 400
    assert not CartLine.objects.exists()


def test_inactive_or_unknown_product_is_refused(shopper):
    inactive = make_product(is_active=False)
    for product_id in (inactive.id, 999_999):
        with pytest.raises(ProductUnavailable) as exc:
            cart_line_add(owner=CartOwner(user=shopper), product_id=product_id, quantity=1)
        assert exc.value.field == "product"
    assert not CartLine.objects.exists()


def test_more_than_in_stock_is_out_of_stock(shopper):
    product = make_product(on_hand=3)
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=product.id, quantity=2)
    with pytest.raises(OutOfStock) as exc:
        cart_line_add(owner=owner, product_id=product.id, quantity=2)
    assert exc.value.available == 3
    assert CartLine.objects.get().quantity == 2


def test_update_and_remove(shopper, product):
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=product.id, quantity=2)
    assert cart_line_update(owner=owner, product_id=product.id, quantity=7) == 7
    with pytest.raises(InvalidQuantity):
        cart_line_update(owner=owner, product_id=product.id, quantity=0)
    cart_line_remove(owner=owner, product_id=product.id)
    assert not CartLine.objects.exists()
    with pytest.raises(ProductUnavailable):
        cart_line_update(owner=owner, product_id=product.id, quantity=1)


def test_cart_shows_prices_in_the_chosen_currency(shopper, product, rates):
    cart_line_add(owner=CartOwner(user=shopper), product_id=product.id, quantity=2)
    cart = cart_get(owner=CartOwner(user=shopper), currency="EUR")
    assert cart.currency == "EUR"
    assert cart.lines[0].unit_price.currency.code == "EUR"
    assert cart.subtotal == cart.lines[0].unit_price * 2
    assert cart.subtotal != Money("20.00", "EUR")  # converted, not relabelled


def test_cart_warns_about_out_of_stock_and_price_changes(shopper, product):
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=product.id, quantity=4)
    product_update(product=product, price=Money("12.00", "USD"))
    stock_adjust(product_id=product.id, delta=-8, reason="damaged")
    cart = cart_get(owner=owner, currency="USD")
    line = cart.lines[0]
    assert line.price_changed
    assert line.available == 2
    assert not cart.is_orderable
    assert len(cart.warnings) == 2
    assert line.unit_price == Money("12.00", "USD")


def test_clear_only_the_bought_products(shopper, product):
    other = make_product()
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=product.id, quantity=1)
    cart_line_add(owner=owner, product_id=other.id, quantity=1)
    cart_clear(owner=owner, product_ids=[product.id])
    assert list(CartLine.objects.values_list("product_id", flat=True)) == [other.id]


def _request_with_session(session):
    request = RequestFactory().get("/")
    request.session = session
    request._messages = FallbackStorage(request)
    return request


def test_merge_adds_quantities_caps_at_stock_and_tells_the_shopper(shopper):
    plenty = make_product(on_hand=10)
    scarce = make_product(on_hand=3, name="Scarce lamp")
    gone = make_product(on_hand=5)
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=plenty.id, quantity=2)
    cart_line_add(owner=owner, product_id=scarce.id, quantity=2)
    session_owner = guest()
    cart_line_add(owner=session_owner, product_id=plenty.id, quantity=3)
    cart_line_add(owner=session_owner, product_id=scarce.id, quantity=3)
    cart_line_add(owner=session_owner, product_id=gone.id, quantity=1)
    product_update(product=gone, is_active=False)

    request = _request_with_session(session_owner.session)
    notes = cart_merge(request=request, user=shopper)

    quantities = dict(CartLine.objects.values_list("product_id", "quantity"))
    assert quantities == {plenty.id: 5, scarce.id: 3}
    assert any("Scarce lamp" in note for note in notes)
    assert any("no longer available" in note for note in notes)
    assert "cart" not in request.session
    shown = [str(m) for m in request._messages]
    assert len(shown) == len(notes) + 1


def test_merge_of_an_empty_guest_cart_does_nothing(shopper):
    request = _request_with_session(SessionStore())
    assert cart_merge(request=request, user=shopper) == []
    assert not CartLine.objects.exists()


def test_another_users_cart_is_separate(product):
    first, second = UserFactory(), UserFactory()
    cart_line_add(owner=CartOwner(user=first), product_id=product.id, quantity=1)
    assert cart_get(owner=CartOwner(user=second), currency="USD").is_empty
    assert cart_get(owner=CartOwner(user=first), currency="USD").subtotal.amount == Decimal("10.00")
