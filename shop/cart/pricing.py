"""A cart's money: its lines through the pricing pipeline, with the shipping quotes for a destination.

One place builds the pipeline's input from cart lines (docs/pricing.md,
"Integration"), so the cart page, the API and checkout price alike:
`cart_price(...)` loads the rules once (tax rates of the destination, the
promotions running now, the voucher), prices the goods, asks shipping which
methods serve the destination for the cart's weight and its subtotal after
discounts, and prices again with the chosen method's price.

Checkout is strict (`strict=True`): a voucher that cannot be used, or a
chosen method that does not serve, raises. The cart is lenient: it keeps the
cart, drops the voucher from the price and reports the voucher's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.conf import settings
from djmoney.money import Money

from shop.cart.gift_cards import cart_gift_cards, gift_card_balances
from shop.cart.selectors import cart_owner_facts, cart_voucher_code
from shop.core.exceptions import ShopError
from shop.pricing.exceptions import VoucherError
from shop.pricing.pipeline import LineInput, PricedOrder, PricingInput, price_order
from shop.pricing.selectors import pricing_rules, voucher_get_usable, voucher_rule
from shop.shipping.exceptions import ShippingMethodRequired, ShippingMethodUnavailable, ShippingUnavailable
from shop.shipping.selectors import ShippingQuote, shipping_methods_available


@dataclass(frozen=True)
class CartItem:
    """One line to price: its product (for tax class and promotions), unit price, quantity and unit weight."""

    key: str
    product: object
    unit_price: Money
    quantity: int
    weight_grams: int = 0


@dataclass(frozen=True)
class CartPrice:
    """What a cart costs delivered to a country: the priced order, the methods offered and the one chosen."""

    priced: PricedOrder
    quotes: tuple[ShippingQuote, ...] = ()
    quote: ShippingQuote | None = None
    voucher_code: str = ""
    voucher_error: ShopError | None = None
    weight_grams: int = 0
    # The applied gift cards' last four characters by pipeline key (the card's id).
    gift_card_last4: dict = field(default_factory=dict)

    def gift_card_uses(self) -> list[dict]:
        """What each gift card pays: [{"gift_card_id", "last4", "amount"}], in the order applied."""
        return [
            {"gift_card_id": int(use.key), "last4": self.gift_card_last4.get(use.key, ""), "amount": use.amount}
            for use in self.priced.gift_cards
            if use.amount.amount
        ]


def cart_items(cart) -> list[CartItem]:
    """A CartView's sellable lines as pricing items (lines of products no longer sold are left out)."""
    return [
        CartItem(key=str(line.variant_id), product=line.product, unit_price=line.unit_price,
                 quantity=line.quantity, weight_grams=line.weight_grams)
        for line in cart.lines
        if line.product is not None and line.unit_price is not None
    ]


def cart_weight_grams(items: Sequence[CartItem]) -> int:
    """The parcel's weight: each variant's weight times its quantity (no weight entered counts 0)."""
    return sum(item.weight_grams * item.quantity for item in items)


def _line_inputs(items: Sequence[CartItem], classes: dict[int, str]) -> list[LineInput]:
    return [
        LineInput(
            key=item.key,
            unit_price=item.unit_price,
            quantity=item.quantity,
            tax_class=classes[item.product.pk],
            product_id=item.product.pk,
            category_ids=frozenset([item.product.category_id]) if item.product.category_id else frozenset(),
        )
        for item in items
    ]


def cart_price(
    *,
    currency: str,
    items: Sequence[CartItem],
    country: str = "",
    region: str = "",
    voucher_code: str = "",
    shipping_method: int | None = None,
    prices_include_tax: bool,
    strict: bool = False,
    cheapest_by_default: bool = False,
    gift_cards: Sequence = (),
) -> CartPrice:
    """Price the cart for a destination: goods, the methods that serve it, then the chosen method's price.

    With `strict` (checkout): VoucherError for a voucher that cannot be used,
    ShippingUnavailable (field shipping_address) when no method serves the
    country and weight, ShippingMethodRequired when none is chosen,
    ShippingMethodUnavailable (field shipping_method) when the chosen one
    does not serve. `gift_cards` (payments.GiftCard rows, in the cart's
    currency) pay last, each with its balance now. Without it, a bad voucher is left out and reported, and
    an unknown method leaves shipping unpriced (or, `cheapest_by_default`, priced
    at the cheapest method serving the destination: the cart's estimate).
    """
    # Every rule below (rates, tax classes, promotions, shipping methods) in one cache round trip.
    rules = pricing_rules(
        country=country, region=region, product_ids=[item.product.pk for item in items],
        shipping_currency=currency if country and currency in settings.CURRENCIES else None,
    )
    data = PricingInput(
        currency=currency, lines=_line_inputs(items, rules.tax_classes), country=country, region=region,
        tax_rates=rules.tax_rates, prices_include_tax=prices_include_tax, promotions=rules.promotions,
        gift_cards=gift_card_balances(list(gift_cards)),
    )
    code = (voucher_code or "").strip()
    data, goods, voucher_error = _price_goods(data, code, strict=strict)
    weight = cart_weight_grams(items)
    after_discounts = goods.subtotal - goods.discount_total
    quotes = tuple(
        shipping_methods_available(
            country=country, weight_grams=weight, subtotal=after_discounts, methods=rules.shipping_methods
        )
        if country
        else ()
    )
    quote = next((q for q in quotes if q.method_id == shipping_method), None)
    if quote is None and cheapest_by_default and quotes:
        quote = quotes[0]
    if strict:
        _shipping_check(quotes, quote, shipping_method)
    priced = price_order(replace(data, shipping=quote.price)) if quote is not None else goods
    return CartPrice(
        priced=priced, quotes=quotes, quote=quote, voucher_code=data.voucher.code if data.voucher else "",
        voucher_error=voucher_error, weight_grams=weight,
        gift_card_last4={str(card.pk): card.last4 for card in gift_cards},
    )


def _price_goods(data: PricingInput, code: str, *, strict: bool):
    """The goods priced with the voucher; a voucher that cannot be used raises (strict) or is dropped."""
    if not code:
        return data, price_order(data), None
    try:
        with_voucher = replace(data, voucher=voucher_rule(voucher_get_usable(code=code)))
        return with_voucher, price_order(with_voucher), None
    except VoucherError as exc:
        if strict:
            raise
        return data, price_order(data), exc


def _shipping_check(quotes, quote, shipping_method) -> None:
    if not quotes:
        raise ShippingUnavailable(field="shipping_address")
    if shipping_method is None:
        raise ShippingMethodRequired(field="shipping_method")
    if quote is None:
        raise ShippingMethodUnavailable(field="shipping_method")


def rate_text(rate: Decimal) -> str:
    """A percent as text with two places ("19.00", "5.50"), or more when the rate has them ("5.125")."""
    two = rate.quantize(Decimal("0.01"))
    return str(two if two == rate else rate.normalize())


def price_breakdown(price: CartPrice) -> dict:
    """What the cart page, checkout review and e-mails show (templates/components/price_breakdown.html)."""
    priced = price.priced
    discounts = []
    if priced.promotion_discount.amount:
        discounts.append({"source": "promotion", "code": "", "amount": priced.promotion_discount})
    if priced.voucher_discount.amount:
        discounts.append({"source": "voucher", "code": price.voucher_code, "amount": priced.voucher_discount})
    return {
        "subtotal": priced.subtotal,
        "discounts": discounts,
        "shipping": priced.shipping,
        "shipping_name": price.quote.name if price.quote else "",
        "tax": [{"rate": rate_text(row.rate), "net": row.net, "tax": row.tax} for row in priced.tax_summary],
        "tax_total": priced.tax_total,
        "prices_include_tax": priced.prices_include_tax,
        "gift_cards": [{"last4": use["last4"], "amount": use["amount"]} for use in price.gift_card_uses()],
        "gift_card_total": priced.gift_card_total,
        "total": priced.total,
    }


def cart_price_for_owner(*, owner, cart, country: str = "", shipping_method: int | None = None) -> CartPrice:
    """A cart as its page and the API price it: the owner's voucher, the given country (else the
    signed-in shopper's default address's), and the chosen method (else the cheapest serving it).
    `cart`: as `cart_get` just read it (its `owner_facts`, when read with the lines, are used)."""
    region, gift_cards = "", ()
    if owner.is_guest:
        voucher_code = cart_voucher_code(owner=owner)
    else:
        # Read with the lines by cart_get, else here in one query.
        facts = cart.owner_facts or cart_owner_facts(user=owner.user)
        voucher_code = facts.voucher_code
        if not country:
            country, region = facts.country, facts.region
        if facts.has_gift_cards:
            gift_cards = cart_gift_cards(user=owner.user, currency=cart.currency)
    return cart_price(
        currency=cart.currency, items=cart_items(cart), country=country, region=region,
        voucher_code=voucher_code, shipping_method=shipping_method,
        prices_include_tax=settings.PRICES_INCLUDE_TAX, cheapest_by_default=True, gift_cards=gift_cards,
    )
