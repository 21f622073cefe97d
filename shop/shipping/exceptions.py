"""Shipping domain errors; each carries a stable machine `code` for API clients."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import ShopError, error_codes


@error_codes
class ShippingErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    SHIPPING_UNAVAILABLE = "shipping_unavailable"
    SHIPPING_METHOD_REQUIRED = "shipping_method_required"
    SHIPPING_METHOD_UNAVAILABLE = "shipping_method_unavailable"
    CARRIER_NOT_FOUND = "carrier_not_found"
    INVALID_SIGNATURE = "invalid_signature"


class ShippingUnavailable(ShopError):
    """No active method serves the address's country and the parcel's weight in the currency."""

    code = ShippingErrorCode.SHIPPING_UNAVAILABLE
    status_code = 400
    default_message = _("We cannot ship this order to that address. Please choose another address.")


class ShippingMethodRequired(ShopError):
    code = ShippingErrorCode.SHIPPING_METHOD_REQUIRED
    status_code = 400
    default_message = _("Choose a shipping method.")


class ShippingMethodUnavailable(ShopError):
    """The chosen method does not exist, is inactive, or does not serve the address or the cart."""

    code = ShippingErrorCode.SHIPPING_METHOD_UNAVAILABLE
    status_code = 400
    default_message = _("This shipping method is not available for this address or cart.")


class CarrierNotFound(ShopError):
    code = ShippingErrorCode.CARRIER_NOT_FOUND
    status_code = 404
    default_message = _("No such carrier.")


class CarrierSignatureInvalid(ShopError):
    code = ShippingErrorCode.INVALID_SIGNATURE
    status_code = 400
    default_message = _("The webhook signature is missing, invalid or too old.")
