"""Checkout without an account: who the guest is, and the guest's cart in the session.

A guest gives an e-mail address and an address typed in, and pays by card
only (a wallet belongs to an account: WalletRequiresAccount). The cart is the
session cart (shop.cart.services); its lines and voucher leave the session once
the order is made, and come back if the card is declined, as a signed-in
shopper's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.exceptions import AddressInvalid
from accounts.services import address_values_clean
from shop.cart.selectors import cart_raw_lines, cart_variant_ids, cart_voucher_code
from shop.cart.services import (
    CartOwner,
    cart_clear,
    cart_lines_put_back,
    cart_voucher_put_back,
    cart_voucher_remove,
)
from shop.orders.exceptions import CheckoutInvalid, WalletRequiresAccount
from shop.orders.models import Order


@dataclass(frozen=True)
class GuestBuyer:
    """A shopper without an account: the e-mail the order is sent to, and the session holding the cart."""

    email: str
    session: Any

    @property
    def owner(self) -> CartOwner:
        return CartOwner(session=self.session)


def guest_checkout_check(guest: GuestBuyer, *, payment_method: str) -> GuestBuyer:
    """The guest with a checked, lower-case e-mail; a wallet is refused (400 wallet_requires_account)."""
    if payment_method == Order.PaymentMethod.WALLET:
        raise WalletRequiresAccount(field="payment_method")
    email = (guest.email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise CheckoutInvalid(
            _("Enter a valid e-mail address for your order confirmation."), field="email"
        ) from None
    return GuestBuyer(email=email, session=guest.session)


def guest_address_snapshot(shipping_address) -> dict:
    """A guest's address as the order keeps it: typed in (a saved address's id is an account's)."""
    if not isinstance(shipping_address, dict):
        raise CheckoutInvalid(_("Enter your shipping address."), field="shipping_address")
    return address_snapshot_checked(shipping_address)


def address_snapshot_checked(fields: dict) -> dict:
    """An address typed in, checked as the address book checks it (country, postal code per country)."""
    try:
        return address_values_clean(fields)
    except AddressInvalid as exc:
        field = f"shipping_address.{exc.field}" if exc.field else "shipping_address"
        raise CheckoutInvalid(exc.message, field=field) from None


def guest_cart_read(guest: GuestBuyer) -> tuple[list, str]:
    """The session cart's raw lines (each with its variant id resolved) and its voucher code."""
    raw = cart_raw_lines(owner=guest.owner)
    variant_ids = cart_variant_ids(raw)
    lines = [
        (None, product_id, variant_id, quantity, seen)
        for (_id, product_id, _v, quantity, seen), variant_id in zip(raw, variant_ids, strict=True)
    ]
    return lines, cart_voucher_code(owner=guest.owner)


def guest_cart_take(guest: GuestBuyer, *, product_ids: list[int], voucher_code: str) -> None:
    """The bought lines (and the voucher the order used) leave the session cart, once the order is made."""
    cart_clear(owner=guest.owner, product_ids=product_ids)
    if voucher_code:
        cart_voucher_remove(session=guest.session)


def guest_cart_put_back(
    guest: GuestBuyer, *, lines: list[tuple[int, int, int, Money]], voucher_code: str
) -> None:
    """A declined card: the lines and the voucher go back into the session cart for another try."""
    cart_lines_put_back(session=guest.session, lines=lines)
    if voucher_code:
        cart_voucher_put_back(session=guest.session, code=voucher_code)
