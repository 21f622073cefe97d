"""Reads of the accounts app. Ownership checks live here."""

from allauth.account.models import EmailAddress
from django.db.models import QuerySet

from accounts.exceptions import AddressNotFound
from accounts.models import Address


def user_has_verified_email(user) -> bool:
    """True when the user's own (primary) e-mail address has been verified."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def addresses_for_user(user) -> QuerySet[Address]:
    """The user's addresses, the default shipping address first, then newest first."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Address.objects.none()
    return Address.objects.filter(user=user).order_by("-is_default_shipping", "-created_at", "-id")


def address_default_for_user(user) -> Address | None:
    """The user's default shipping address, or None."""
    return addresses_for_user(user).filter(is_default_shipping=True).first()


def address_get_for_user(user, address_id) -> Address:
    """One of the user's addresses; AddressNotFound (a 404) for anyone else's or a bad id."""
    try:
        return addresses_for_user(user).get(pk=int(address_id))
    except (Address.DoesNotExist, TypeError, ValueError):
        raise AddressNotFound() from None
