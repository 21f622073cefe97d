"""Signal receivers: only triggers; the work is in services."""

from shop.cart.services import cart_merge


def merge_cart_on_login(sender, request, user, **kwargs):
    """allauth's user_logged_in: move the guest cart into the user's cart."""
    if request is not None and hasattr(request, "session"):
        cart_merge(request=request, user=user)
