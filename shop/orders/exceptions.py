from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import Conflict, CoreErrorCode, InvalidTransition, NotFound, ShopError, error_codes


@error_codes
class OrderErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    PAYMENT_BEING_CONFIRMED = "payment_being_confirmed"
    PRICE_CHANGED = "price_changed"
    # Why an unpaid order was cancelled by the expiry job (its payment_failed e-mail's code).
    RESERVATION_EXPIRED = "expired"
    SHIPMENT_EXCEEDS_ALLOCATION = "shipment_exceeds_allocation"
    TRACKING_NUMBER_TAKEN = "tracking_number_taken"
    WALLET_REQUIRES_ACCOUNT = "wallet_requires_account"


__all__ = [
    "InvalidTransition",
    "OrderNotFound",
    "CheckoutInvalid",
    "PriceChanged",
    "PaymentBeingConfirmed",
    "CheckoutThrottled",
]


class OrderNotFound(NotFound):
    default_message = _("This order does not exist.")


class CheckoutInvalid(ShopError):
    """Bad checkout input (400 with the field)."""

    code = CoreErrorCode.INVALID
    status_code = 400
    default_message = _("Please check your order details.")


class PriceChanged(Conflict):
    """The order would cost something else than the total the shopper confirmed (409; `totals`: the new ones)."""

    code = OrderErrorCode.PRICE_CHANGED
    default_message = _("The price of your order has changed. Please review it again.")


class WalletRequiresAccount(ShopError):
    """A guest chose the wallet: wallets belong to accounts, a guest pays by card (400, field payment_method)."""

    code = OrderErrorCode.WALLET_REQUIRES_ACCOUNT
    status_code = 400
    default_message = _("Paying from a wallet needs an account. Sign in, or pay by card as a guest.")


class PaymentBeingConfirmed(Conflict):
    code = OrderErrorCode.PAYMENT_BEING_CONFIRMED
    default_message = _("The payment of this order is being confirmed; it cannot be cancelled now.")


class CheckoutThrottled(ShopError):
    code = CoreErrorCode.THROTTLED
    status_code = 429
    default_message = _("Too many checkout attempts. Please wait a minute and try again.")


class ReturnInvalid(ShopError):
    code = CoreErrorCode.INVALID
    status_code = 400
    default_message = _("This return request is not valid.")


class ShipmentInvalid(ShopError):
    """Bad shipment input (400 with the field): no lines, no tracking number, an inactive carrier."""

    code = CoreErrorCode.INVALID
    status_code = 400
    default_message = _("Please check the shipment.")


class ShipmentExceedsAllocation(ShopError):
    """More units than the warehouse allocated to the line and not yet shipped."""

    code = OrderErrorCode.SHIPMENT_EXCEEDS_ALLOCATION
    status_code = 400
    default_message = _("More units than this warehouse holds for the order are left to ship.")


class TrackingNumberTaken(Conflict):
    """The carrier's tracking number already belongs to another parcel."""

    code = OrderErrorCode.TRACKING_NUMBER_TAKEN
    default_message = _("This carrier's tracking number is already used by another shipment.")


class InvoiceNotFound(NotFound):
    default_message = _("This document does not exist.")
