"""Reads of carts: the lines with current prices, stock and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.selectors.prices import price_converter
from catalog.selectors.products import products_by_ids
from catalog.selectors.stock import product_available
from shop.cart.exceptions import CartLineNotFound
from shop.cart.models import CartLine
from shop.cart.services import CartOwner, id_in_range, seen_price, session_lines


@dataclass
class CartLineView:
    """A cart line as the shopper sees it, in the chosen currency."""

    id: int | None  # the CartLine id (None for a guest's session line)
    product_id: int
    product: object | None
    quantity: int
    unit_price: Money | None = None
    line_total: Money | None = None
    available: int = 0
    price_changed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def is_orderable(self) -> bool:
        return self.product is not None and self.product.is_active and self.quantity <= self.available


@dataclass
class CartView:
    currency: str
    lines: list[CartLineView]
    subtotal: Money

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def is_orderable(self) -> bool:
        return bool(self.lines) and all(line.is_orderable for line in self.lines)

    @property
    def warnings(self) -> list[str]:
        return [w for line in self.lines for w in line.warnings]


def cart_raw_lines(*, owner: CartOwner) -> list[tuple[int | None, int, int, Money | None]]:
    """(line id, product id, quantity, price seen) of every line, oldest first; one query at most."""
    if owner.is_guest:
        rows = []
        for key, data in session_lines(owner.session).items():
            try:
                rows.append((None, int(key), int(data.get("quantity", 0)), seen_price(data)))
            except (TypeError, ValueError, AttributeError):
                continue
        return [row for row in rows if row[2] > 0 and id_in_range(row[1])]
    return [
        (line.id, line.product_id, line.quantity, line.price_seen)
        for line in CartLine.objects.filter(cart__user=owner.user).order_by("created_at", "id")
    ]


def cart_get(*, owner: CartOwner, currency: str) -> CartView:
    """The cart with current prices in `currency`, stock, and what changed (two queries + prices)."""
    raw = cart_raw_lines(owner=owner)
    products = products_by_ids([product_id for _id, product_id, _q, _p in raw]) if raw else {}
    convert = price_converter(currency)  # one rate lookup for all lines (same rounding as product_price)
    lines: list[CartLineView] = []
    subtotal = Money(Decimal("0"), currency)
    for line_id, product_id, quantity, seen in raw:
        product = products.get(product_id)
        view = CartLineView(id=line_id, product_id=product_id, product=product, quantity=quantity)
        if product is None or not product.is_active:
            view.warnings.append(_("A product in your cart is no longer sold; remove it to check out."))
            lines.append(view)
            continue
        view.available = product_available(product)
        view.unit_price = convert(product.price)
        view.line_total = view.unit_price * quantity
        subtotal += view.line_total
        if view.available <= 0:
            view.warnings.append(_("“%(name)s” is out of stock.") % {"name": product.name})
        elif view.available < quantity:
            view.warnings.append(
                _("Only %(n)d of “%(name)s” left: lower the quantity to check out.")
                % {"n": view.available, "name": product.name}
            )
        if seen is not None and seen != product.price:
            view.price_changed = True
            view.warnings.append(
                _("The price of “%(name)s” has changed since you added it.") % {"name": product.name}
            )
        lines.append(view)
    return CartView(currency=currency, lines=lines, subtotal=subtotal)


def cart_item_count(*, owner: CartOwner) -> int:
    """How many items the cart holds (the header's count): one query at most, whatever the lines."""
    return sum(quantity for _id, _product_id, quantity, _seen in cart_raw_lines(owner=owner))


def cart_line_get_for_user(*, user, line_id) -> CartLine:
    """The user's own cart line, else 404 (another user's line does not exist for them)."""
    if not id_in_range(line_id):
        raise CartLineNotFound()
    line = CartLine.objects.filter(cart__user=user, pk=line_id).first()
    if line is None:
        raise CartLineNotFound()
    return line
