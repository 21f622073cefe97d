"""The product page's delivery estimate ("Delivered in 2-4 working days to Germany").

Catalog may not import shop.shipping, so its per-request buy box loads this
library. The country is the signed-in shopper's default address country, else
settings.SHOP_DEFAULT_COUNTRY; the estimate is cached per country and currency,
so a page costs at most one query (the address) once the cache is warm.
"""

from django import template
from django.conf import settings

from accounts.countries import country_name
from accounts.selectors import address_default_for_user
from shop.core.money import request_currency
from shop.shipping.selectors import delivery_estimate

register = template.Library()


def _country_of(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        address = address_default_for_user(user)
        if address is not None:
            return address.country
    return settings.SHOP_DEFAULT_COUNTRY


@register.inclusion_tag("shipping/_delivery_estimate.html", takes_context=True)
def delivery_estimate_for_shopper(context) -> dict:
    """The estimate for the shopper's country in their currency (the sentence, or that it is not served)."""
    request = context.get("request")
    country = _country_of(request)
    return {
        "estimate": delivery_estimate(country=country, currency=request_currency(request)),
        "country": country_name(country),
    }
