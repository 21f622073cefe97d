"""Pricing errors: vouchers that cannot be used, and prices that do not fit together."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import ShopError, error_codes


@error_codes
class PricingErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    VOUCHER_INVALID = "voucher_invalid"
    VOUCHER_EXPIRED = "voucher_expired"
    VOUCHER_EXHAUSTED = "voucher_exhausted"
    VOUCHER_CUSTOMER_LIMIT = "voucher_customer_limit"
    VOUCHER_MIN_SPEND = "voucher_min_spend"
    PRICE_CURRENCY_MISMATCH = "price_currency_mismatch"


class VoucherError(ShopError):
    code = PricingErrorCode.VOUCHER_INVALID
    status_code = 400
    default_message = _("This voucher code is not valid.")


class VoucherInvalid(VoucherError):
    """Unknown code, switched off, not valid yet, or no amount in the order's currency."""


class VoucherExpired(VoucherError):
    code = PricingErrorCode.VOUCHER_EXPIRED
    default_message = _("This voucher has expired.")


class VoucherExhausted(VoucherError):
    code = PricingErrorCode.VOUCHER_EXHAUSTED
    default_message = _("This voucher has been used up.")


class VoucherCustomerLimit(VoucherError):
    code = PricingErrorCode.VOUCHER_CUSTOMER_LIMIT
    default_message = _("You have already used this voucher as often as it allows.")


class VoucherMinSpend(VoucherError):
    code = PricingErrorCode.VOUCHER_MIN_SPEND
    default_message = _("The order is below this voucher's minimum value.")


class PriceCurrencyMismatch(ShopError):
    """A programming error: every amount priced together must be in the order's currency."""

    code = PricingErrorCode.PRICE_CURRENCY_MISMATCH
    status_code = 500
    default_message = _("Prices in different currencies cannot be added up.")
