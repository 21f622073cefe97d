"""Domain errors of the accounts app."""

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from shop.exceptions import NotFound, ShopError


class AddressNotFound(NotFound, Http404):
    """No such address for this user. Also an Http404, so pages answer 404 without catching it."""

    code = "address_not_found"
    default_message = _("Address not found.")


class AddressInvalid(ShopError):
    code = "invalid_address"
    status_code = 400
    default_message = _("The address is not valid.")


class ProfileInvalid(ShopError):
    code = "invalid_profile"
    status_code = 400
    default_message = _("The profile is not valid.")
