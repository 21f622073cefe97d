"""Checkout without an account: who the guest is, and the guest's cart in the session.

A guest gives an e-mail address and an address typed in, and pays by card
only (a wallet belongs to an account: WalletRequiresAccount). The cart is the
session cart (shop.cart.services); its lines and voucher leave the session once
the order is made, and come back if the card is declined, as a signed-in
shopper's do. An API client without a session sends the lines (and a voucher
code) in the request instead (`GuestBuyer.lines`): they are checked as adding
them to a cart checks them, win over a session cart, and never touch it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    lines_resolve,
)
from shop.orders.exceptions import CheckoutInvalid, WalletRequiresAccount
from shop.orders.models import Order


@dataclass(frozen=True)
class GuestBuyer:
    """A shopper without an account: the e-mail the order is sent to, and the session holding the cart.

    `lines`: (product id or None, variant id or None, quantity) triples given in the
    request; with them the order is of those lines and `voucher_code`, not of the
    session cart (which is left as it is).
    """

    email: str
    session: Any
    lines: tuple | None = None
    voucher_code: str = ""

    @property
    def lines_given(self) -> bool:
        return self.lines is not None

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
    return replace(guest, email=email)


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
    """The session cart's raw lines (each with its variant id resolved) and its voucher code; or the lines
    given in the request, checked as the cart checks them (400 naming `lines[i].<field>`), and its code."""
    if guest.lines_given:
        return lines_resolve(guest.lines), guest.voucher_code
    raw = cart_raw_lines(owner=guest.owner)
    variant_ids = cart_variant_ids(raw)
    lines = [
        (None, product_id, variant_id, quantity, seen)
        for (_id, product_id, _v, quantity, seen), variant_id in zip(raw, variant_ids, strict=True)
    ]
    return lines, cart_voucher_code(owner=guest.owner)


def guest_cart_take(guest: GuestBuyer, *, product_ids: list[int], voucher_code: str) -> None:
    """The bought lines (and the voucher the order used) leave the session cart, once the order is made
    (lines given in the request were never in it: the session cart is left alone)."""
    if guest.lines_given:
        return
    cart_clear(owner=guest.owner, product_ids=product_ids)
    if voucher_code:
        cart_voucher_remove(session=guest.session)


def guest_cart_put_back(
    guest: GuestBuyer, *, lines: list[tuple[int, int, int, Money]], voucher_code: str
) -> None:
    """A declined card: the lines and the voucher go back into the session cart for another try
    (lines given in the request go nowhere: the client sends them again)."""
    if guest.lines_given:
        return
    cart_lines_put_back(session=guest.session, lines=lines)
    if voucher_code:
        cart_voucher_put_back(session=guest.session, code=voucher_code)
