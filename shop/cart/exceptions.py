from django.utils.translation import gettext_lazy as _

from shop.exceptions import Conflict, NotFound, ShopError


class InvalidQuantity(ShopError):
    code = "invalid"
    status_code = 400
    default_message = _("Enter a whole number of items between 1 and the maximum per line.")

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("field", "quantity")
        super().__init__(message, **kwargs)


class ProductUnavailable(ShopError):
    code = "product_unavailable"
    status_code = 400
    default_message = _("This product is not available.")

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("field", "product")
        super().__init__(message, **kwargs)


class CartEmpty(ShopError):
    code = "cart_empty"
    status_code = 400
    default_message = _("Your cart is empty.")


class CartLineNotFound(NotFound):
    default_message = _("This cart line does not exist.")


class CartChanged(Conflict):
    code = "cart_changed"
    default_message = _(
        "Your cart changed while you were checking out (perhaps in another window). "
        "Please review it and place your order again."
    )
