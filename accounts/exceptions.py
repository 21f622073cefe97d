"""Domain errors of the accounts app."""

from django.db.models import TextChoices
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import NotFound, ShopError, error_codes


@error_codes
class AccountErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    ADDRESS_NOT_FOUND = "address_not_found"
    INVALID_ADDRESS = "invalid_address"
    INVALID_PROFILE = "invalid_profile"
    INVALID_PASSWORD = "invalid_password"


class AddressNotFound(NotFound, Http404):
    """No such address for this user. Also an Http404, so pages answer 404 without catching it."""

    code = AccountErrorCode.ADDRESS_NOT_FOUND
    default_message = _("Address not found.")


class AddressInvalid(ShopError):
    code = AccountErrorCode.INVALID_ADDRESS
    status_code = 400
    default_message = _("The address is not valid.")


class ProfileInvalid(ShopError):
    code = AccountErrorCode.INVALID_PROFILE
    status_code = 400
    default_message = _("The profile is not valid.")


class PasswordIncorrect(ShopError):
    """The password given to confirm an erasure is not the account's."""

    code = AccountErrorCode.INVALID_PASSWORD
    status_code = 400
    default_message = _("The password is not correct.")
