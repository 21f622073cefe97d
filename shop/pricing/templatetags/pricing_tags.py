"""Catalogue promotions on pages: old and new price for a whole page of products at once.

Catalog may not import shop.pricing, so its templates load this library instead:
`{% promoted items as items %}` before a grid of product cards. The promotions
come from one cached read (shop.pricing.selectors.promotions_active_cached), so
a page costs the same queries whatever the number of cards.
"""

from decimal import Decimal

from django import template
from djmoney.money import Money

from catalog.templatetags.catalog_tags import money
from shop.pricing.selectors import unit_prices_promoted

register = template.Library()


def _card(item: dict, new: Money) -> dict:
    if new == item["price"]:
        return item
    return {**item, "price": new, "old_price": item["price"]}


@register.simple_tag
def promoted(items) -> list[dict]:
    """Cards ({"product", "price", ...}) with the promoted price as `price` and the catalogue's as `old_price`."""
    items = list(items or [])
    prices = unit_prices_promoted((i["price"], i["product"].pk, i["product"].category_id) for i in items)
    return [_card(item, new) for item, new in zip(items, prices, strict=True)]


@register.simple_tag
def promoted_price(product, price) -> dict:
    """{"price", "old_price"} of one product (old_price None when no promotion applies)."""
    card = promoted([{"product": product, "price": price}])[0]
    return {"price": card["price"], "old_price": card.get("old_price")}


@register.simple_tag
def promoted_variants(variants, product_id: int, category_id: int | None) -> list[dict]:
    """The variant picker's data with each variant's promoted `price` and its `old_price` ("" when none)."""
    variants = list(variants or [])
    prices = unit_prices_promoted(
        (Money(Decimal(v["amount"]), v["currency"]), product_id, category_id) for v in variants
    )
    out = []
    for variant, new in zip(variants, prices, strict=True):
        old = Money(Decimal(variant["amount"]), variant["currency"])
        out.append({**variant, "price": money(new), "old_price": money(old) if new != old else ""})
    return out
