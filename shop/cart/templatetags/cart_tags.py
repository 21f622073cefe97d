"""`{% cart_item_count as n %}`: the visitor's cart item count, for the header on every page."""

from django import template

from shop.cart.selectors import cart_item_count as cart_item_count_select
from shop.cart.services import cart_owner_for_request

register = template.Library()


@register.simple_tag(takes_context=True)
def cart_item_count(context) -> int:
    """Items in the cart of whoever views the page (0 where there is no request)."""
    request = context.get("request")
    if request is None or not hasattr(request, "session"):
        return 0
    return cart_item_count_select(owner=cart_owner_for_request(request))
