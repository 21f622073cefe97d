"""A checkout's lines: the cart's lines priced and checked, and the answer when their stock is short.

Read before the order's transaction (shop.orders.services.checkout): the
variants first, with their stock, so a visibly sold-out cart is refused
before anything else is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.exceptions import OutOfStock
from catalog.selectors.prices import price_converter
from catalog.selectors.products import products_for_lines
from catalog.selectors.variants import variant_alternatives, variant_price, variants_info
from shop.cart.exceptions import CartEmpty, ProductUnavailable
from shop.cart.selectors import cart_raw_lines
from shop.cart.services import CartOwner, quantity_validate


@dataclass
class CheckoutLine:
    product: object
    variant_id: int
    quantity: int
    unit_price: Money
    price_seen: Money | None = None  # the cart line's, to put it back if the order does not go through
    sku: str = ""
    options: dict = dc_field(default_factory=dict)
    available: int = 0  # when the cart was read: only for the fast sold-out answer
    weight_grams: int = 0  # per unit


def checkout_lines(*, user, currency: str, raw=None) -> list[CheckoutLine]:
    """The cart's lines priced in `currency`; refuses an empty cart or a product no longer sold."""
    raw = cart_raw_lines(owner=CartOwner(user=user)) if raw is None else raw
    if not raw:
        raise CartEmpty()
    variants = variants_info([variant_id for _id, _p, variant_id, _q, _s in raw])
    _sold_out_refuse(raw, variants)
    products = products_for_lines([product_id for _id, product_id, _v, _q, _p in raw])
    convert = price_converter(currency)  # one rate lookup for all lines
    lines = []
    for _id, product_id, variant_id, quantity, seen in raw:
        product, variant = products.get(product_id), variants.get(variant_id)
        if product is None or not product.is_active or variant is None or variant.product_id != product_id:
            raise ProductUnavailable(
                _("A product in your cart is no longer sold; remove it and try again."), product_id=product_id
            )
        quantity_validate(quantity)
        lines.append(
            CheckoutLine(
                product=product, variant_id=variant_id, quantity=quantity,
                unit_price=convert(variant_price(variant, product)), price_seen=seen, sku=variant.sku,
                options=variant.options, available=max(variant.stock_available, 0),
                weight_grams=variant.weight_grams,
            )
        )
    return lines


def out_of_stock_explained(exc: OutOfStock, lines: list[tuple[int, int, int]]) -> OutOfStock:
    """The 409 body: each short line (variant, requested, available) and up to three alternatives.

    `lines`: (variant id, quantity, units available when the cart was read) of every line.
    """
    short = [
        {"variant": variant_id, "requested": quantity, "available": available}
        for variant_id, quantity, available in lines
        if available < quantity or variant_id == exc.variant_id
    ]
    for item in short:
        if item["variant"] == exc.variant_id and exc.available is not None:
            item["available"] = exc.available
    exc.extra["lines"] = short
    exc.extra["alternatives"] = variant_alternatives(variant_id=short[0]["variant"]) if short else []
    return exc


def stock_lines(lines: list[CheckoutLine]) -> list[tuple[int, int]]:
    return [(line.variant_id, line.quantity) for line in lines]


def _sold_out_refuse(raw, variants: dict) -> None:
    """Refuse at once a line that is visibly sold out, before anything else is read or written (the stock
    read with the variants): 409 out_of_stock with every short line.

    Only a fast answer for the many buyers of a sold-out flash sale: the
    guarded UPDATEs in the transaction are what decide. A line whose variant is
    gone or not its product's is left to the checks that follow (400).
    """
    seen = []
    first = None
    for _id, product_id, variant_id, quantity, _seen in raw:
        variant = variants.get(variant_id)
        if variant is None or variant.product_id != product_id:
            continue
        available = max(variant.stock_available, 0)
        seen.append((variant_id, quantity, available))
        if first is None and available < quantity:
            first = OutOfStock(product_id=product_id, variant_id=variant_id, requested=quantity, available=available)
    if first is not None:
        raise out_of_stock_explained(first, seen)
