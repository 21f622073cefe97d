"""Writes of the accounts app: profiles and addresses.

Each service owns its transaction. Address writes lock the user's address
rows (`select_for_update`) so that two concurrent "make default" requests
cannot leave two defaults (the partial unique constraint is the last line).
"""

import logging
from importlib import import_module

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.countries import COUNTRY_CODES
from accounts.exceptions import AddressInvalid, PasswordIncorrect, ProfileInvalid
from accounts.models import Address, ErasureRequest, User
from accounts.postal_codes import PostalCodeInvalid, postal_code_normalize
from accounts.privacy import privacy_audit, privacy_erasers
from accounts.selectors import user_data_export
from shop.core.exceptions import ShopError

logger = logging.getLogger(__name__)

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
    if cleaned.get("postal_code") and cleaned.get("country"):
        try:
            cleaned["postal_code"] = postal_code_normalize(cleaned["country"], cleaned["postal_code"])
        except PostalCodeInvalid as exc:
            raise AddressInvalid(exc.message, field="postal_code") from None
    return cleaned


def address_values_clean(values: dict) -> dict:
    """An address typed in (at checkout, by a guest too) checked as the address book checks it:
    required fields, a shop country, the postal code for that country. AddressInvalid names the field."""
    unknown = set(values) - set(ADDRESS_FIELDS)
    if unknown:
        raise AddressInvalid(_("Unknown address field."), field=sorted(unknown)[0])
    if any(value is not None and not isinstance(value, str) for value in values.values()):
        raise AddressInvalid(_("Address fields must be text."))
    full = {name: values.get(name) or "" for name in ADDRESS_FIELDS}
    return _address_clean(full)


def _address_key(values: dict) -> tuple:
    """What makes two addresses the same one: every field, compared without case or extra spaces."""
    return tuple(" ".join(str(values.get(name) or "").split()).casefold() for name in ADDRESS_FIELDS)


def address_remember(*, user: User, **fields) -> Address:
    """The user's saved address equal to these fields (case and spacing aside), else a new one saved:
    an address typed in at checkout joins the address book once, and is offered next time."""
    values = address_values_clean(fields)
    wanted = _address_key(values)
    # The common case, an address kept already, reads without a transaction or locks.
    for address in Address.objects.filter(user=user).order_by("id"):
        if _address_key(address.as_snapshot()) == wanted:
            return address
    with transaction.atomic():
        existing = _lock_addresses(user)
        for address in existing:
            if _address_key(address.as_snapshot()) == wanted:
                return address
        make_default = not any(a.is_default_shipping for a in existing)
        return Address.objects.create(user=user, is_default_shipping=make_default, **values)


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


ERASED_EMAIL_DOMAIN = "erased.invalid"


def user_export(*, user: User) -> dict:
    """Everything the shop holds about `user` (GDPR articles 15 and 20); the request is audited."""
    data = user_data_export(user=user)
    with transaction.atomic():
        privacy_audit(actor=user, action="privacy_export", obj=user, data={"sections": sorted(data)})
    return data


def user_erase(*, user: User, password: str, channel: str = ErasureRequest.Channel.API) -> ErasureRequest:
    """Erase a person (GDPR article 17): anonymise the account, delete its addresses and e-mail
    addresses, run every app's eraser (accounts.privacy), and end every session and app token.

    Orders, invoices, payments and ledger entries stay, pointing to the anonymised account.
    Refuses with PasswordIncorrect (400) for a wrong password, and with the eraser's error when an
    app refuses (a wallet with money: 409 `wallet_not_empty`); a refusal changes nothing but is
    recorded. Every request is an `ErasureRequest` and is audited. Takes the user row lock first.
    """
    try:
        if not password or not user.check_password(password):
            raise PasswordIncorrect(field="password")
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            summary = {name: eraser(user=locked) or {} for name, eraser in privacy_erasers()}
            summary["accounts"] = _account_anonymise(locked)
            erasure = ErasureRequest.objects.create(
                user=locked, status=ErasureRequest.Status.DONE, channel=channel, summary=summary
            )
            privacy_audit(actor=locked, action="privacy_erasure", obj=erasure, data=summary)
    except ShopError as refusal:
        with transaction.atomic():
            erasure = ErasureRequest.objects.create(
                user=user, status=ErasureRequest.Status.REFUSED, channel=channel, refusal_code=str(refusal.code)
            )
            privacy_audit(actor=user, action="privacy_erasure_refused", obj=erasure, data={"code": str(refusal.code)})
        raise
    erasure.summary["accounts"]["sessions"] = user_sessions_end(user_id=user.pk)
    ErasureRequest.objects.filter(pk=erasure.pk).update(summary=erasure.summary)
    user.refresh_from_db()
    return erasure


def _account_anonymise(user: User) -> dict:
    addresses, _rows = Address.objects.filter(user=user).delete()
    emails, _rows = EmailAddress.objects.filter(user=user).delete()
    user.email = f"erased-{user.pk}@{ERASED_EMAIL_DOMAIN}"
    user.full_name = ""
    user.preferred_language = ""
    user.is_active = False
    user.set_unusable_password()  # also invalidates every session's auth hash
    user.save(update_fields=["email", "full_name", "preferred_language", "is_active", "password"])
    return {"addresses": addresses, "email_addresses": emails}


def user_sessions_end(*, user_id: int) -> int:
    """Delete every live session of the user: browser sessions and allauth app tokens (session keys).

    Reads each unexpired session once (sessions are not indexed by user), deleting through the
    session engine so a cached copy goes too. Returns how many were ended.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    sessions = Session.objects.filter(expire_date__gt=timezone.now()).order_by("pk")
    for session in sessions.iterator(chunk_size=2000):
        try:
            owner = session.get_decoded().get("_auth_user_id")
        except Exception:  # a session that cannot be decoded belongs to nobody we know
            logger.warning("session %s could not be decoded", session.pk[:6])
            continue
        if owner == str(user_id):
            store(session_key=session.session_key).delete()
            ended += 1
    return ended
