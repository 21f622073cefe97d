from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import Conflict, CoreErrorCode, NotFound, ShopError, error_codes


@error_codes
class CartErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    PRODUCT_UNAVAILABLE = "product_unavailable"
    CART_EMPTY = "cart_empty"
    CART_CHANGED = "cart_changed"


class InvalidQuantity(ShopError):
    code = CoreErrorCode.INVALID
    status_code = 400
    default_message = _("Enter a whole number of items between 1 and the maximum per line.")

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("field", "quantity")
        super().__init__(message, **kwargs)


class ProductUnavailable(ShopError):
    code = CartErrorCode.PRODUCT_UNAVAILABLE
    status_code = 400
    default_message = _("This product is not available.")

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("field", "product")
        super().__init__(message, **kwargs)


class CartEmpty(ShopError):
    code = CartErrorCode.CART_EMPTY
    status_code = 400
    default_message = _("Your cart is empty.")


class CartLineNotFound(NotFound):
    default_message = _("This cart line does not exist.")


class CartChanged(Conflict):
    code = CartErrorCode.CART_CHANGED
    default_message = _(
        "Your cart changed while you were checking out (perhaps in another window). "
        "Please review it and place your order again."
    )


class GiftCardAttemptsThrottled(ShopError):
    """Too many wrong gift-card codes from this account or address: no code is looked up until the window ends."""

    code = CoreErrorCode.THROTTLED
    status_code = 429
    default_message = _("Too many wrong gift card codes. Please wait a while and try again.")

    def response_headers(self) -> dict[str, str]:
        retry_after = self.extra.get("retry_after")
        return {"Retry-After": str(retry_after)} if retry_after else {}
