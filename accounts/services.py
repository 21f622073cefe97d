"""Writes of the accounts app: profiles and addresses.

Each service owns its transaction. Address writes lock the user's address
rows (`select_for_update`) so that two concurrent "make default" requests
cannot leave two defaults (the partial unique constraint is the last line).
"""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.countries import COUNTRY_CODES
from accounts.exceptions import AddressInvalid, ProfileInvalid
from accounts.models import Address, User

ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone")
ADDRESS_REQUIRED = ("full_name", "line1", "city", "postal_code", "country")


def _address_clean(values: dict) -> dict:
    """Trimmed values with an upper-case, known country; raises AddressInvalid naming the field."""
    cleaned = {}
    for name in ADDRESS_FIELDS:
        if name in values:
            value = values[name]
            cleaned[name] = "" if value is None else str(value).strip()
    if "country" in cleaned:
        cleaned["country"] = cleaned["country"].upper()
    for name in ADDRESS_REQUIRED:
        if name in cleaned and not cleaned[name]:
            raise AddressInvalid(_("This field is required."), field=name)
    if "country" in cleaned and cleaned["country"] not in COUNTRY_CODES:
        raise AddressInvalid(
            _("Enter a supported two-letter country code (ISO 3166-1), such as DE or US."), field="country"
        )
    return cleaned


def _lock_addresses(user: User) -> list[Address]:
    # Lock order: the user's address rows by id, in every address service.
    return list(Address.objects.select_for_update().filter(user=user).order_by("id"))


def address_create(
    *,
    user: User,
    full_name: str,
    line1: str,
    city: str,
    postal_code: str,
    country: str,
    line2: str = "",
    region: str = "",
    phone: str = "",
    is_default_shipping: bool = False,
) -> Address:
    """Add an address; the user's first address becomes the default shipping address."""
    values = _address_clean(
        {
            "full_name": full_name,
            "line1": line1,
            "line2": line2,
            "city": city,
            "postal_code": postal_code,
            "region": region,
            "country": country,
            "phone": phone,
        }
    )
    with transaction.atomic():
        existing = _lock_addresses(user)
        make_default = is_default_shipping or not any(a.is_default_shipping for a in existing)
        if make_default:
            Address.objects.filter(user=user, is_default_shipping=True).update(is_default_shipping=False)
        return Address.objects.create(user=user, is_default_shipping=make_default, **values)


def address_update(*, address: Address, **changes) -> Address:
    """Change an address's fields (any of ADDRESS_FIELDS; `is_default_shipping=True` makes it the default)."""
    unknown = set(changes) - set(ADDRESS_FIELDS) - {"is_default_shipping"}
    if unknown:
        raise TypeError(f"address_update() got unexpected fields: {sorted(unknown)}")
    make_default = changes.pop("is_default_shipping", None)
    values = _address_clean(changes)
    with transaction.atomic():
        _lock_addresses(address.user)
        address = Address.objects.select_for_update().get(pk=address.pk)
        for name, value in values.items():
            setattr(address, name, value)
        address.save()
        if make_default and not address.is_default_shipping:
            address = _address_make_default(address)
        return address


def address_delete(*, address: Address) -> None:
    """Delete an address; if it was the default, the newest remaining one becomes the default.

    Orders keep their own snapshot, so history is unaffected.
    """
    with transaction.atomic():
        _lock_addresses(address.user)
        deleted, _rows = Address.objects.filter(pk=address.pk).delete()
        remaining = Address.objects.filter(user_id=address.user_id)
        if deleted and not remaining.filter(is_default_shipping=True).exists():
            successor = remaining.order_by("-created_at", "-id").first()
            if successor is not None:
                _address_make_default(successor)


def address_set_default(*, address: Address) -> Address:
    """Make this the user's one default shipping address, clearing the previous one in the same transaction."""
    with transaction.atomic():
        _lock_addresses(address.user)
        return _address_make_default(Address.objects.get(pk=address.pk))


def _address_make_default(address: Address) -> Address:
    # Clear first: the partial unique index allows one default per user at any moment.
    Address.objects.filter(user_id=address.user_id, is_default_shipping=True).exclude(pk=address.pk).update(
        is_default_shipping=False
    )
    Address.objects.filter(pk=address.pk).update(is_default_shipping=True)
    address.refresh_from_db()
    return address


def user_profile_update(*, user: User, full_name: str | None = None, preferred_language: str | None = None) -> User:
    """Change the user's name and/or preferred language (one of settings.LANGUAGES, or empty)."""
    fields = []
    if full_name is not None:
        user.full_name = full_name.strip()
        fields.append("full_name")
    if preferred_language is not None:
        if preferred_language and preferred_language not in dict(settings.LANGUAGES):
            raise ProfileInvalid(_("Choose one of the offered languages."), field="preferred_language")
        user.preferred_language = preferred_language
        fields.append("preferred_language")
    if fields:
        with transaction.atomic():
            user.save(update_fields=fields)
    return user
