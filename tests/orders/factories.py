"""Helpers to build shoppers, products and carts for cart/orders/flow tests (through the real services)."""

from decimal import Decimal

from shop.cart.services import CartOwner, cart_line_add
from tests.accounts.factories import AddressFactory, UserFactory
from tests.catalog.factories import make_product
from tests.payments.fixtures import wallet_with_balance

__all__ = ["AddressFactory", "UserFactory", "make_product", "wallet_with_balance", "shopper_new", "cart_fill"]


def shopper_new(*, funds: str | None = "100.00", currency: str = "USD", address: bool = True):
    """A verified user with a wallet holding `funds` (None: no wallet) and a saved address."""
    user = UserFactory()
    if funds is not None:
        wallet_with_balance(user, funds, currency)
    if address:
        AddressFactory(user=user, is_default_shipping=True)
    return user


def cart_fill(user, *items) -> None:
    """Put (product, quantity) pairs in the user's cart."""
    for product, quantity in items:
        cart_line_add(owner=CartOwner(user=user), product_id=product.id, quantity=quantity)


def money(amount: str) -> Decimal:
    return Decimal(amount)
