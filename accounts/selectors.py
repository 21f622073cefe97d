"""Reads of the accounts app. Ownership checks live here."""

from allauth.account.models import EmailAddress
from django.db.models import QuerySet
from django.utils import timezone

from accounts.exceptions import AddressNotFound
from accounts.models import Address
from accounts.privacy import privacy_exporters


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


EXPORT_FORMAT = "shop-personal-data/1"


def user_profile_export(*, user) -> dict:
    """The profile section of a personal-data export, with the account's e-mail addresses."""
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "preferred_language": user.preferred_language,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "email_addresses": list(
            EmailAddress.objects.filter(user=user).order_by("id").values("email", "verified", "primary")
        ),
    }


def user_addresses_export(*, user) -> list[dict]:
    """The addresses section of a personal-data export."""
    return [
        {**address.as_snapshot(), "is_default_shipping": address.is_default_shipping, "created_at": address.created_at}
        for address in addresses_for_user(user)
    ]


def user_consents_export(*, user) -> list[dict]:
    """The consents section: the shop asks for no optional consent (no marketing e-mail, no tracking),
    so the list is empty; the account itself is processed to fulfil the contract of sale."""
    return []


def user_data_export(*, user) -> dict:
    """Everything the shop holds about `user`, one section per registered exporter (accounts.privacy)."""
    data = {"format": EXPORT_FORMAT, "exported_at": timezone.now()}
    for name, exporter in privacy_exporters():
        data[name] = exporter(user=user)
    return data
