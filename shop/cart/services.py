"""Writes to carts: add, change, remove, clear, merge on login.

A signed-in shopper's cart is in the database (Cart/CartLine); a guest's is
in the session, as {"<product id>": {"quantity": n, "price": "12.50",
"currency": "USD"}} where the price is the product's price when it was
added (to warn about price changes). Both go through the same functions via
a CartOwner, so pages, the API and the login merge share one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.exceptions import OutOfStock
from catalog.selectors.products import products_by_ids
from catalog.selectors.stock import product_available
from shop.cart.exceptions import CartChanged, InvalidQuantity, ProductUnavailable
from shop.cart.models import Cart, CartLine

MAX_LINE_QUANTITY = 99
SESSION_CART_KEY = "cart"
# Ids from users are bounded to what a 64-bit key column holds: a bigger number is
# no row at all, and must not reach the database (SQLite raises OverflowError).
DB_ID_MAX = 2**63 - 1


def id_in_range(value) -> bool:
    """Whether `value` is an int that can be a row id (1..DB_ID_MAX)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= DB_ID_MAX


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a signed-in user's (database) or a guest's (session)."""

    user: Any = None
    session: Any = None

    @property
    def is_guest(self) -> bool:
        return self.user is None


def cart_owner_for_request(request) -> CartOwner:
    """The cart of whoever makes the request."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return CartOwner(user=user)
    return CartOwner(session=request.session)


def quantity_validate(quantity) -> int:
    """A whole number from 1 to MAX_LINE_QUANTITY, else InvalidQuantity (400, field quantity)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity()
    if quantity < 1 or quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            _("Enter a whole number of items between 1 and %(max)d.") % {"max": MAX_LINE_QUANTITY}
        )
    return quantity


def _product_for_cart(product_id):
    if isinstance(product_id, bool) or not isinstance(product_id, int):
        raise ProductUnavailable(_("Choose a product."))
    if not id_in_range(product_id):
        raise ProductUnavailable()
    product = products_by_ids([product_id]).get(product_id)
    if product is None or not product.is_active:
        raise ProductUnavailable()
    return product


def _check_stock(product, quantity: int) -> None:
    available = product_available(product)
    if quantity > available:
        raise OutOfStock(
            _("Only %(available)d of “%(name)s” in stock.") % {"available": available, "name": product.name},
            product_id=product.id,
            available=available,
        )


def session_lines(session) -> dict[str, dict]:
    lines = session.get(SESSION_CART_KEY)
    return lines if isinstance(lines, dict) else {}


def _session_save(session, lines: dict[str, dict]) -> None:
    session[SESSION_CART_KEY] = lines
    session.modified = True


def _locked_cart(user) -> Cart:
    """The user's cart row, locked: line changes of one cart are serialized by it."""
    cart, _created = Cart.objects.select_for_update().get_or_create(user=user)
    return cart


def _set_quantity(*, owner: CartOwner, product, quantity: int, add: bool) -> int:
    if owner.is_guest:
        lines = session_lines(owner.session)
        current = lines.get(str(product.id), {}).get("quantity", 0) if add else 0
        new = current + quantity
        if new > MAX_LINE_QUANTITY:
            quantity_validate(new)
        _check_stock(product, new)
        lines[str(product.id)] = {
            "quantity": new,
            "price": str(product.price.amount),
            "currency": product.price.currency.code,
        }
        _session_save(owner.session, lines)
        return new
    with transaction.atomic():
        cart = _locked_cart(owner.user)
        line = CartLine.objects.filter(cart=cart, product_id=product.id).first()
        new = (line.quantity if (line and add) else 0) + quantity
        if new > MAX_LINE_QUANTITY:
            quantity_validate(new)
        _check_stock(product, new)
        if line is None:
            CartLine.objects.create(cart=cart, product_id=product.id, quantity=new, price_seen=product.price)
        else:
            line.quantity = new
            line.price_seen = product.price
            line.save(update_fields=["quantity", "price_seen_currency", "price_seen", "updated_at"])
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())
        return new


def cart_line_add(*, owner: CartOwner, product_id: int, quantity: int) -> int:
    """Add `quantity` of a product (added to what is there); returns the line's new quantity.

    Refuses an inactive product (400), a bad quantity (400) and more than is
    in stock (409 out_of_stock). Takes the cart row lock.
    """
    quantity_validate(quantity)
    product = _product_for_cart(product_id)
    return _set_quantity(owner=owner, product=product, quantity=quantity, add=True)


def cart_line_update(*, owner: CartOwner, product_id: int, quantity: int) -> int:
    """Set a line's quantity (1..MAX, at most the stock); the line must exist."""
    quantity_validate(quantity)
    product = _product_for_cart(product_id)
    if owner.is_guest:
        if str(product.id) not in session_lines(owner.session):
            raise ProductUnavailable(_("This product is not in your cart."))
    elif not CartLine.objects.filter(cart__user=owner.user, product_id=product.id).exists():
        raise ProductUnavailable(_("This product is not in your cart."))
    return _set_quantity(owner=owner, product=product, quantity=quantity, add=False)


def cart_line_remove(*, owner: CartOwner, product_id: int) -> None:
    """Remove a product from the cart (nothing happens if it is not there)."""
    if not id_in_range(product_id):
        return
    if owner.is_guest:
        lines = session_lines(owner.session)
        if lines.pop(str(product_id), None) is not None:
            _session_save(owner.session, lines)
        return
    with transaction.atomic():
        CartLine.objects.filter(cart__user=owner.user, product_id=product_id).delete()


def cart_clear(*, owner: CartOwner, product_ids: list[int] | None = None) -> None:
    """Empty the cart, or remove only `product_ids` (what an order just bought)."""
    if owner.is_guest:
        lines = session_lines(owner.session)
        if product_ids is None:
            lines = {}
        else:
            for product_id in product_ids:
                lines.pop(str(product_id), None)
        _session_save(owner.session, lines)
        return
    with transaction.atomic(savepoint=False):
        qs = CartLine.objects.filter(cart__user=owner.user)
        if product_ids is not None:
            qs = qs.filter(product_id__in=[pid for pid in product_ids if id_in_range(pid)])
        qs.delete()


def cart_lines_take(*, user, lines: list[tuple[int, int]]) -> None:
    """Take exactly these (product id, quantity) lines out of the user's cart, for an order.

    Call in the transaction that creates the order. Two checkouts of the same
    cart at once (a double submit with two keys, two windows) both read the
    lines, but only the first deletes them: the second waits on their row
    locks, finds them gone and gets CartChanged, rolling its order back. So
    one cart never becomes two orders, and nor does a quantity changed
    meanwhile go unnoticed.
    """
    if not lines:
        return
    wanted = Q()
    for product_id, quantity in lines:
        wanted |= Q(product_id=product_id, quantity=quantity)
    with transaction.atomic(savepoint=False):
        deleted, _detail = CartLine.objects.filter(wanted, cart__user=user).delete()
        if deleted != len(lines):
            raise CartChanged()


def cart_lines_put_back(*, user, lines: list[tuple[int, int, Money]]) -> None:
    """Return (product id, quantity, price seen) lines taken for an order that did not go through.

    A line the shopper has added again meanwhile is left as it is now.
    """
    if not lines:
        return
    with transaction.atomic():
        cart = _locked_cart(user)
        present = set(CartLine.objects.filter(cart=cart).values_list("product_id", flat=True))
        CartLine.objects.bulk_create(
            [
                CartLine(cart=cart, product_id=product_id, quantity=quantity, price_seen=seen)
                for product_id, quantity, seen in lines
                if product_id not in present
            ]
        )


def cart_merge(*, request, user) -> list[str]:
    """Move the guest cart of the session into the user's cart after login.

    Quantities are added and capped at the stock (and the per-line maximum);
    products that went away are dropped. The shopper is told each change
    through django messages; the notes are also returned. Takes the cart lock.
    """
    session = request.session
    guest_lines = session_lines(session)
    if not guest_lines:
        return []
    wanted = _guest_lines_by_product(guest_lines)
    notes: list[str] = []
    with transaction.atomic():
        cart = _locked_cart(user)
        existing = {line.product_id: line for line in CartLine.objects.filter(cart=cart)}
        products = products_by_ids(list(wanted))
        for product_id, data in wanted.items():
            notes += _merge_line(
                cart=cart, product=products.get(product_id), data=data, line=existing.get(product_id)
            )
    session.pop(SESSION_CART_KEY, None)
    session.modified = True
    if notes:
        for note in notes:
            messages.warning(request, note)
    messages.info(request, _("The items you added before signing in are in your cart."))
    return notes


def _guest_lines_by_product(guest_lines: dict[str, dict]) -> dict[int, dict]:
    """The session's lines keyed by product id; keys that are no row id are dropped."""
    wanted: dict[int, dict] = {}
    for key, data in guest_lines.items():
        try:
            product_id = int(key)
        except (TypeError, ValueError):
            continue
        if id_in_range(product_id):
            wanted[product_id] = data
    return wanted


def _merge_line(*, cart: Cart, product, data: dict, line: CartLine | None) -> list[str]:
    """Add one guest line to the locked cart (capped at the stock); returns the notes for the shopper."""
    if product is None or not product.is_active:
        return [_("A product from your cart is no longer available and was removed.")]
    try:
        guest_quantity = int(data.get("quantity", 0))
    except (TypeError, ValueError):
        return []
    notes: list[str] = []
    current = line.quantity if line else 0
    want = current + max(guest_quantity, 0)
    cap = min(product_available(product), MAX_LINE_QUANTITY)
    new = min(want, cap)
    if new < want:
        if new <= current:
            notes.append(
                _("“%(name)s” could not be added again: only %(n)d in stock.") % {"name": product.name, "n": cap}
            )
        else:
            notes.append(
                _("“%(name)s”: quantity set to %(n)d, the most available.") % {"name": product.name, "n": new}
            )
    seen = seen_price(data)
    if seen is not None and seen != product.price:
        notes.append(_("The price of “%(name)s” has changed since you added it.") % {"name": product.name})
    if new <= 0 or new == current:
        return notes
    if line is None:
        CartLine.objects.create(cart=cart, product_id=product.id, quantity=new, price_seen=product.price)
    else:
        line.quantity = new
        line.save(update_fields=["quantity", "updated_at"])
    return notes


def seen_price(data: dict) -> Money | None:
    try:
        return Money(Decimal(str(data["price"])), data["currency"])
    except Exception:  # noqa: BLE001 - a malformed session entry just has no price to compare
        return None
