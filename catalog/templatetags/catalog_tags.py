from decimal import Decimal
from functools import lru_cache

from django import template
from django.utils.translation import get_language
from djmoney.money import Money

from catalog.selectors.categories import category_tree
from shop.core.money import money_round

register = template.Library()


@register.filter
def money(value) -> str:
    """A Money rounded to its currency's minor unit, in the active language's format.

    The same format as cart, order and wallet pages (django-money's): "$12.50" in
    English, "12,50 $" in German.
    """
    if value is None:
        return ""
    rounded = money_round(value)
    return _formatted(rounded.amount, rounded.currency.code, get_language())


@lru_cache(maxsize=4096)
def _formatted(amount: Decimal, currency: str, language: str | None) -> str:
    # Babel's formatting costs about a millisecond per call; a listing shows the
    # same few hundred prices again and again.
    return str(Money(amount, currency))


@register.filter
def stars(value) -> str:
    try:
        n = int(round(float(value)))
    except (TypeError, ValueError):
        n = 0
    return "★" * n + "☆" * (5 - n)


@register.simple_tag
def category_menu() -> list[dict]:
    """The top categories for the header's menu (the cached tree, so no query per page)."""
    return category_tree()


@register.inclusion_tag("components/rating.html")
def rating(value, count=None):
    """Stars for a rating with its words for screen readers ("Rated 4.2 of 5")."""
    return {"value": value, "count": count, "stars": stars(value)}
