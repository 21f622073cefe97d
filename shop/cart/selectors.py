"""Reads of carts: the lines with current prices, stock and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Exists, FilteredRelation, OuterRef, Q
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.selectors.prices import price_converter
from catalog.selectors.products import products_for_lines
from catalog.selectors.variants import default_variant_ids, variant_price, variants_info
from shop.cart.exceptions import CartLineNotFound
from shop.cart.models import Cart, CartGiftCard, CartLine
from shop.cart.services import (
    SESSION_VOUCHER_KEY,
    CartOwner,
    id_in_range,
    seen_price,
    session_key_parse,
    session_lines,
)


@dataclass
class CartLineView:
    """A cart line as the shopper sees it, in the chosen currency."""

    id: int | None  # the CartLine id (None for a guest's session line)
    product_id: int
    product: object | None
    quantity: int
    variant_id: int | None = None
    sku: str = ""
    options: dict = field(default_factory=dict)
    unit_price: Money | None = None
    line_total: Money | None = None
    available: int = 0
    weight_grams: int = 0  # per unit
    price_changed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def is_orderable(self) -> bool:
        return self.product is not None and self.product.is_active and self.quantity <= self.available


@dataclass(frozen=True)
class CartOwnerFacts:
    """What pricing a signed-in shopper's cart reads besides its lines (`cart_owner_facts`)."""

    voucher_code: str = ""
    has_gift_cards: bool = False
    country: str = ""  # the default shipping address's ("" without one)
    region: str = ""


@dataclass
class CartView:
    currency: str
    lines: list[CartLineView]
    subtotal: Money
    # A signed-in owner's voucher, gift-card flag and default address, read with the lines (else None).
    owner_facts: CartOwnerFacts | None = None

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
    def has_short_lines(self) -> bool:
        """Some line asks for more than is in stock: "take what is available" can fix it."""
        return any(line.product is not None and line.quantity > line.available for line in self.lines)

    @property
    def warnings(self) -> list[str]:
        return [w for line in self.lines for w in line.warnings]


def cart_raw_lines(*, owner: CartOwner) -> list[tuple[int | None, int, int | None, int, Money | None]]:
    """(line id, product id, variant id, quantity, price seen) of every line, oldest first; one query at most.

    A guest's line of a product's default variant has variant id None (see
    `cart_variant_ids`).
    """
    if owner.is_guest:
        rows = []
        for key, data in session_lines(owner.session).items():
            ids = session_key_parse(key)
            try:
                if ids is not None:
                    rows.append((None, ids[0], ids[1], int(data.get("quantity", 0)), seen_price(data)))
            except (TypeError, ValueError, AttributeError):
                continue
        return [row for row in rows if row[3] > 0]
    return [
        (line.id, line.product_id, line.variant_id, line.quantity, line.price_seen)
        for line in CartLine.objects.filter(cart__user=owner.user).order_by("created_at", "id")
    ]


def cart_checkout_read(*, user) -> tuple[list[tuple[int | None, int, int | None, int, Money | None]], str, bool]:
    """A signed-in shopper's raw lines (as `cart_raw_lines`), the cart's voucher code and whether gift cards are
    on it, in one query (`cart_lines_with_facts`)."""
    raw, facts = cart_lines_with_facts(user=user)
    if facts is None:
        return raw, "", False
    return raw, facts.voucher_code, facts.has_gift_cards


def cart_voucher_code(*, owner: CartOwner) -> str:
    """The voucher code on the cart ("" for none): a signed-in shopper's in the database, a guest's in the session."""
    if owner.is_guest:
        code = owner.session.get(SESSION_VOUCHER_KEY) if owner.session is not None else ""
        return code if isinstance(code, str) else ""
    return Cart.objects.filter(user=owner.user).values_list("voucher_code", flat=True).first() or ""


def cart_owner_facts(*, user) -> CartOwnerFacts:
    """The cart's voucher code, whether gift cards are on it, and the default shipping address's country
    and region, in one query (at most one default address and one cart per user: one row)."""
    row = (
        get_user_model().objects.filter(pk=user.pk)
        .annotate(
            default_address=FilteredRelation("addresses", condition=Q(addresses__is_default_shipping=True)),
            has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart__id"))),
        )
        .values_list("cart__voucher_code", "has_gift_cards", "default_address__country", "default_address__region")
        .first()
    )
    return _owner_facts(*row) if row is not None else CartOwnerFacts()


def _owner_facts(code, has_gift_cards, country, region) -> CartOwnerFacts:
    return CartOwnerFacts(voucher_code=code or "", has_gift_cards=bool(has_gift_cards), country=country or "",
                          region=region or "")


def cart_lines_with_facts(*, user) -> tuple[list[tuple[int, int, int, int, Money]], CartOwnerFacts | None]:
    """A signed-in shopper's raw lines (as `cart_raw_lines`) and, when there are any, the `cart_owner_facts`
    read with them: one query (the cart has no lines: the facts are None)."""
    rows = list(
        CartLine.objects.filter(cart__user=user)
        .annotate(
            default_address=FilteredRelation(
                "cart__user__addresses", condition=Q(cart__user__addresses__is_default_shipping=True)
            ),
            has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart_id"))),
        )
        .order_by("created_at", "id")
        .values_list("id", "product_id", "variant_id", "quantity", "price_seen", "price_seen_currency",
                     "cart__voucher_code", "has_gift_cards", "default_address__country", "default_address__region")
    )
    raw = [(row[0], row[1], row[2], row[3], Money(row[4], row[5])) for row in rows]
    return raw, (_owner_facts(*rows[0][6:]) if rows else None)


def cart_variant_ids(raw) -> list[int | None]:
    """Each raw line's variant id, a default variant looked up for the guest lines that have none."""
    missing = [product_id for _id, product_id, variant_id, _q, _p in raw if variant_id is None]
    defaults = default_variant_ids(missing) if missing else {}
    return [variant_id or defaults.get(product_id) for _id, product_id, variant_id, _q, _p in raw]


def cart_get(*, owner: CartOwner, currency: str) -> CartView:
    """The cart with current prices in `currency`, stock, and what changed (a few queries + prices)."""
    if owner.is_guest:
        raw, facts = cart_raw_lines(owner=owner), None
    else:
        raw, facts = cart_lines_with_facts(user=owner.user)
    # No stock annotation nor category row: a line's stock is its variant's, and pricing needs only category_id.
    products = products_for_lines([product_id for _id, product_id, _v, _q, _p in raw]) if raw else {}
    variant_ids = cart_variant_ids(raw)
    variants = variants_info(variant_ids)
    convert = price_converter(currency)  # one rate lookup for all lines (same rounding as product_price)
    lines: list[CartLineView] = []
    subtotal = Money(Decimal("0"), currency)
    for (line_id, product_id, _v, quantity, seen), variant_id in zip(raw, variant_ids, strict=True):
        product = products.get(product_id)
        variant = variants.get(variant_id)
        view = CartLineView(id=line_id, product_id=product_id, product=product, quantity=quantity,
                            variant_id=variant_id)
        if product is None or not product.is_active or variant is None or variant.product_id != product_id:
            view.warnings.append(_("A product in your cart is no longer sold; remove it to check out."))
            lines.append(view)
            continue
        view.sku, view.options = variant.sku, dict(variant.options)
        view.available = max(variant.stock_available, 0)
        view.weight_grams = variant.weight_grams
        view.unit_price = convert(variant_price(variant, product))
        view.line_total = view.unit_price * quantity
        subtotal += view.line_total
        _stock_warnings(view, product)
        if seen is not None and seen != product.price:
            view.price_changed = True
            view.warnings.append(
                _("The price of “%(name)s” has changed since you added it.") % {"name": product.name}
            )
        lines.append(view)
    return CartView(currency=currency, lines=lines, subtotal=subtotal, owner_facts=facts)


def _stock_warnings(view: CartLineView, product) -> None:
    if view.available <= 0:
        view.warnings.append(_("“%(name)s” is out of stock.") % {"name": product.name})
    elif view.available < view.quantity:
        view.warnings.append(
            _("Only %(n)d of “%(name)s” left: lower the quantity to check out.")
            % {"n": view.available, "name": product.name}
        )


def cart_item_count(*, owner: CartOwner) -> int:
    """How many items the cart holds (the header's count): one query at most, whatever the lines."""
    return sum(quantity for _id, _product_id, _variant_id, quantity, _seen in cart_raw_lines(owner=owner))


def cart_line_get_for_user(*, user, line_id) -> CartLine:
    """The user's own cart line, else 404 (another user's line does not exist for them)."""
    if not id_in_range(line_id):
        raise CartLineNotFound()
    line = CartLine.objects.filter(cart__user=user, pk=line_id).first()
    if line is None:
        raise CartLineNotFound()
    return line
