"""Prices in the shopper's currency: conversion with the stored rates, rounded as displayed."""

from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Case, DecimalField, Exists, F, Min, OuterRef, Subquery, When
from django.db.models.functions import Coalesce, Least
from djmoney.money import Money

from catalog.models import Product, ProductVariant
from shop.core.money import exchange_rate, minor_unit_quantum, money_convert


def product_price(product: Product, currency: str) -> Money:
    """The product's price in `currency`, converted with the stored rates and rounded."""
    return money_convert(product.price, currency)


def price_converter(currency: str) -> Callable[[Money], Money]:
    """One rate lookup for a whole list; the same rounding as money_convert."""
    return price_converter_at(currency, exchange_rate(settings.DEFAULT_CURRENCY, currency))


def price_converter_at(currency: str, rate: Decimal) -> Callable[[Money], Money]:
    """A converter at this `rate` from the default currency, rounded as displayed."""
    quantum = minor_unit_quantum(currency)

    def convert(money: Money) -> Money:
        if money.currency.code == currency:
            return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), currency)
        return Money((money.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP), currency)

    return convert


def price_threshold(amount: Decimal, currency: str, convert: Callable[[Money], Money] | None = None) -> Decimal:
    """The lowest base-currency price that is displayed in `currency` as `amount` or more.

    Price filters and price bands compare what the shopper sees: the price
    converted and rounded exactly as it is displayed (`price_converter`), so
    a product shown as 9.26 EUR is inside "from 9.26 EUR" and outside "up to
    9.25 EUR". Displayed prices grow with base prices, so the boundary is one
    base price, found by bisection over the base currency's minor units.
    """
    if amount <= 0:
        return Decimal(0)
    base = settings.DEFAULT_CURRENCY
    convert = convert or price_converter(currency)
    step = minor_unit_quantum(base)

    def shown(units: int) -> Decimal:
        return convert(Money(units * step, base)).amount

    low, high = 0, 1
    while shown(high) < amount:
        high *= 2
        if high > 10**15:  # beyond any price the database can hold
            return Decimal(10**13)
    while low < high:
        middle = (low + high) // 2
        if shown(middle) >= amount:
            high = middle
        else:
            low = middle + 1
    return low * step


def price_range_in_base(
    min_price: Decimal | None, max_price: Decimal | None, currency: str
) -> tuple[Decimal | None, Decimal | None]:
    """Base-currency bounds [low, high) of the products displayed between min_price and max_price in `currency`."""
    convert = price_converter(currency)
    low = price_threshold(min_price, currency, convert) if min_price is not None else None
    high = None
    if max_price is not None:
        quantum = minor_unit_quantum(currency)
        # Displayed at most max_price == displayed below the next displayable amount.
        next_amount = max_price.quantize(quantum, rounding=ROUND_FLOOR) + quantum
        high = price_threshold(next_amount, currency, convert)
    return low, high


def price_from_expression():
    """A product's "from" price in the base currency, as price filters and price facets read it: the
    stored `Product.price_from_base` (indexed), kept by `product_price_from_refresh`, so a filtered
    search reads a column instead of each matching product's variants. Listings show the same price
    (`price_from_computed_expression`), so a band counts what its filter finds."""
    return F("price_from_base")


def price_from_computed_expression(variant_model=ProductVariant):
    """SQL for a product's "from" price in the base currency: the lowest over its variants (a variant's
    own price, else the product's), as listings show it; the product's price when it has no variant.
    `variant_model`: a migration's historical model."""
    variants = variant_model.objects.filter(product_id=OuterRef("pk")).order_by()
    lowest_own = Subquery(
        variants.filter(price__isnull=False).values("product_id").annotate(low=Min("price")).values("low")[:1]
    )
    inherits = Exists(variants.filter(price__isnull=True))
    money = DecimalField(max_digits=12, decimal_places=2)
    return Case(
        When(inherits, then=Least(F("price"), Coalesce(lowest_own, F("price"), output_field=money))),
        default=Coalesce(lowest_own, F("price"), output_field=money),
        output_field=money,
    )
