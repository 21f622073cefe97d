"""The checkout's request body (POST /api/v1/orders/): the input serializer, its guest `lines` errors named
per line, the checkout tokens an Idempotency-Key makes, and the request examples."""

import hashlib

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.exceptions import InvalidCardToken
from payments.selectors import card_token_check
from shop.cart.api import CartLineAddInput, StrictIntegerField
from shop.cart.services import DB_ID_MAX
from shop.core.api import MoneyField, StrictCharField
from shop.orders.models import Order


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "description": "id of one of the caller's saved addresses"},
            {
                "type": "object",
                "properties": {
                    name: {"type": "string"}
                    for name in (
                        "full_name",
                        "line1",
                        "line2",
                        "city",
                        "postal_code",
                        "region",
                        "country",
                        "phone",
                    )
                },
                "required": ["full_name", "line1", "city", "postal_code", "country"],
            },
        ]
    }
)
class ShippingAddressField(serializers.Field):
    """A saved address id, or an address object (checked by the service)."""

    default_error_messages = {"invalid": "Give a saved address id or an address object."}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            return data
        return StrictIntegerField(min_value=1, max_value=DB_ID_MAX).run_validation(data)

    def to_representation(self, value):
        return value


MAX_GUEST_LINES = 50  # lines a guest's API checkout may send in its body


class OrderCreateInput(serializers.Serializer):
    email = serializers.EmailField(
        required=False,
        max_length=254,
        help_text="A guest's (no session, no token) e-mail for the confirmation; required then, ignored for "
        "a signed-in caller. A guest pays by card (`wallet`: 400 wallet_requires_account) to an address "
        "object (not a saved address id), for `lines` or else the session's cart.",
    )
    lines = CartLineAddInput(
        many=True,
        required=False,
        allow_empty=False,
        max_length=MAX_GUEST_LINES,
        help_text="A guest's lines (no session needed): each `variant`, or `product` alone for a single-variant "
        "product, and `quantity`, checked as POST /api/v1/cart/lines/ checks them (400 naming `lines[i].<field>`: "
        "invalid, product_unavailable, variant_required, variant_invalid); the same variant twice adds up. "
        "They win over a session cart, which is left as it is. A signed-in caller checks out the cart: 400.",
    )
    voucher_code = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=40,
        trim_whitespace=True,
        help_text="A voucher for `lines` (only with them; a session cart's voucher is applied on the cart); "
        "a bad, expired, exhausted or too-small-order code is a 400 naming `voucher_code`.",
    )
    payment_method = serializers.ChoiceField(choices=Order.PaymentMethod.choices)
    card_token = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    currency = serializers.ChoiceField(choices=list(settings.CURRENCIES), required=False)
    shipping_address = ShippingAddressField()
    shipping_method = StrictIntegerField(
        min_value=1,
        max_value=DB_ID_MAX,
        required=False,
        help_text="id of a method from GET /api/v1/shipping-methods/ for the address's country (required: "
        "400 shipping_method_required without it).",
    )
    expected_total = MoneyField(
        required=False,
        help_text="The total the shopper was shown (the cart's `total`); another price is a 409 price_changed "
        "with the new totals and nothing is placed.",
    )

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_lines_errors_indexed(exc.detail)) from None

    def validate(self, attrs):
        for index, line in enumerate(attrs.get("lines") or []):
            if line.get("product") is None and line.get("variant") is None:
                raise serializers.ValidationError(
                    {f"lines[{index}].product": [_("Choose a product or a variant.")]}
                )
        if attrs.get("voucher_code") and "lines" not in attrs:
            raise serializers.ValidationError(
                {"voucher_code": [_("Apply a voucher to your cart, or send it with the lines.")]}
            )
        if attrs.get("payment_method") == Order.PaymentMethod.CARD:
            try:
                attrs["card_token"] = card_token_check(attrs.get("card_token", ""))
            except InvalidCardToken as exc:
                raise serializers.ValidationError({"card_token": [str(exc.message)]})
        return attrs


def _lines_errors_indexed(detail):
    """Serializer errors with a bad line named `lines[i].<field>` (DRF keys a list's errors by position)."""
    lines = detail.get("lines") if isinstance(detail, dict) else None
    if isinstance(lines, list):
        lines = dict(enumerate(lines))
    bad = {
        int(index): errors
        for index, errors in (lines.items() if isinstance(lines, dict) else [])
        if str(index).isdigit() and isinstance(errors, dict) and errors
    }
    if not bad:
        return detail
    index = min(bad)
    name, messages = next(iter(bad[index].items()))
    return {f"lines[{index}].{name}": messages, **{k: v for k, v in detail.items() if k != "lines"}}


def guest_checkout_token_for_key(*, session_key: str, key: str, email: str = "") -> str:
    """A guest's checkout token for an API Idempotency-Key: one order per (session, key); for a client
    with no session, per (e-mail, key), so two such clients never share an order by a common key."""
    if not session_key:
        return hashlib.sha256(f"api:guest:email:{email}:{key}".encode()).hexdigest()
    return hashlib.sha256(f"api:guest:{session_key}:{key}".encode()).hexdigest()


def checkout_token_for_key(*, user, key: str) -> str:
    """The order's checkout token for an API Idempotency-Key: one order per (user, key), even
    after the first request died past the charge (the key's record is then forgotten)."""
    return hashlib.sha256(f"api:{user.pk}:{key}".encode()).hexdigest()  # 64 hex: fits the field


# The typed-in address of the guest examples below.
GUEST_ADDRESS_EXAMPLE = {
    "full_name": "Ann Example",
    "line1": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
GUEST_LINES_ORDER_REQUEST = {
    "email": "ann@example.com",
    "payment_method": "card",
    "card_token": "tok_ok",
    "lines": [{"variant": 42, "quantity": 2}, {"product": 7, "quantity": 1}],
    "voucher_code": "WELCOME10",
    "shipping_method": 1,
    "expected_total": {"amount": "41.40", "currency": "EUR"},
    "currency": "EUR",
    "shipping_address": GUEST_ADDRESS_EXAMPLE,
}
GUEST_ORDER_REQUEST = {
    "email": "ann@example.com",
    "payment_method": "card",
    "card_token": "tok_ok",
    "shipping_method": 1,
    "shipping_address": GUEST_ADDRESS_EXAMPLE,
}
