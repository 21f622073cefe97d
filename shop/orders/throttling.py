"""One checkout rate limit per user, shared by the checkout page and `POST /api/v1/orders/`.

Both doors count in the same cache counter (the "checkout" rate of
REST_FRAMEWORK's DEFAULT_THROTTLE_RATES), so a bot that alternates between
them gets the limit once, not once per door.
"""

from rest_framework.settings import api_settings

from shop.core.throttling import UserRateThrottle


class CheckoutThrottle(UserRateThrottle):
    """Per signed-in user (per client address for anyone else); usable by DRF views and plain pages."""

    scope = "checkout"

    def get_rate(self):
        # Read when used, not when the class was imported, so a changed setting applies at once.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


def checkout_attempt_allowed(request) -> tuple[bool, float]:
    """Count one checkout attempt for whoever makes `request`; (allowed, seconds to wait if not)."""
    throttle = CheckoutThrottle()
    if throttle.allow_request(request, None):
        return True, 0.0
    return False, throttle.wait()


class OrderLookupThrottle(CheckoutThrottle):
    """"Find my order" attempts, per client address (or user): the "order_lookup" rate."""

    scope = "order_lookup"


def order_lookup_allowed(request) -> tuple[bool, float]:
    """Count one "find my order" attempt for whoever makes `request`; (allowed, seconds to wait if not)."""
    throttle = OrderLookupThrottle()
    if throttle.allow_request(request, None):
        return True, 0.0
    return False, throttle.wait()
