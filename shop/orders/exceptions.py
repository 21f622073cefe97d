from django.utils.translation import gettext_lazy as _

from shop.exceptions import Conflict, InvalidTransition, NotFound, ShopError

__all__ = ["InvalidTransition", "OrderNotFound", "CheckoutInvalid", "PaymentBeingConfirmed", "CheckoutThrottled"]


class OrderNotFound(NotFound):
    default_message = _("This order does not exist.")


class CheckoutInvalid(ShopError):
    """Bad checkout input (400 with the field)."""

    code = "invalid"
    status_code = 400
    default_message = _("Please check your order details.")


class PaymentBeingConfirmed(Conflict):
    code = "payment_being_confirmed"
    default_message = _("The payment of this order is being confirmed; it cannot be cancelled now.")


class CheckoutThrottled(ShopError):
    code = "throttled"
    status_code = 429
    default_message = _("Too many checkout attempts. Please wait a minute and try again.")


class ReturnInvalid(ShopError):
    code = "invalid"
    status_code = 400
    default_message = _("This return request is not valid.")
