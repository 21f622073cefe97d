"""Cart API for signed-in apps: GET /cart/, POST /cart/lines/, PATCH/DELETE /cart/lines/{id}/."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.exceptions import CatalogErrorCode
from payments.exceptions import PaymentErrorCode
from shop.cart.gift_cards import cart_gift_card_apply, cart_gift_card_remove, gift_card_attempt_keys
from shop.cart.pricing import cart_items, cart_price, cart_price_for_owner, price_breakdown
from shop.cart.selectors import cart_get, cart_line_get_for_user
from shop.cart.services import (
    DB_ID_MAX,
    MAX_LINE_QUANTITY,
    CartOwner,
    cart_line_add,
    cart_line_remove,
    cart_line_update,
    cart_voucher_apply,
    cart_voucher_remove,
)
from shop.core.api import MoneyField
from shop.core.exceptions import CoreErrorCode
from shop.core.money import request_currency
from shop.core.schema import CURRENCY_PARAMETER, error_responses
from shop.pricing.exceptions import PricingErrorCode


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON number or digit string; refuses 2.5, "2.0", true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or isinstance(data, float):
            self.fail("invalid")
        if isinstance(data, str) and not data.strip().lstrip("-").isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


def api_currency(request) -> str:
    """?currency=EUR, else the session's choice, else the default; an unsupported one is a 400."""
    if "currency" not in request.query_params:
        return request_currency(request)
    currency = request.query_params["currency"]
    if currency not in settings.CURRENCIES:
        raise serializers.ValidationError({"currency": [_("Unknown currency: %(c)s.") % {"c": currency[:10]}]})
    return currency


class CartLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    variant = serializers.IntegerField(source="variant_id", allow_null=True)
    sku = serializers.CharField(default="")
    options = serializers.DictField(child=serializers.CharField())
    name = serializers.CharField(source="product.name", default="")
    slug = serializers.CharField(source="product.slug", default="")
    quantity = serializers.IntegerField()
    unit_price = MoneyField(allow_null=True)
    line_total = MoneyField(allow_null=True)
    available = serializers.IntegerField()
    price_changed = serializers.BooleanField()
    orderable = serializers.BooleanField(source="is_orderable")
    warnings = serializers.ListField(child=serializers.CharField())


class DiscountOutput(serializers.Serializer):
    source = serializers.ChoiceField(choices=["promotion", "voucher"])
    code = serializers.CharField(required=False, help_text="the voucher's code (voucher discounts only)")
    amount = MoneyField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("code"):
            data.pop("code", None)
        return data


class TaxRowOutput(serializers.Serializer):
    rate = serializers.CharField(help_text='percent, e.g. "19.00"')
    net = MoneyField()
    tax = MoneyField()


class GiftCardUseOutput(serializers.Serializer):
    last4 = serializers.CharField()
    amount = MoneyField()


class CartShippingOutput(serializers.Serializer):
    method = serializers.IntegerField(source="method_id")
    name = serializers.CharField()
    carrier = serializers.CharField()
    price = MoneyField()


class VoucherErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class CartOutput(serializers.Serializer):
    """The cart with its price breakdown (docs/pricing.md) for `country` (else the default address's)."""

    currency = serializers.CharField()
    lines = CartLineOutput(many=True)
    subtotal = MoneyField()
    voucher = serializers.CharField(source="price.voucher_code", help_text="the applied voucher's code, or empty")
    voucher_error = VoucherErrorOutput(
        source="voucher_problem", allow_null=True,
        help_text="why the cart's voucher is not counted now (it stays on the cart), or null",
    )
    discounts = DiscountOutput(many=True, source="breakdown.discounts")
    shipping = CartShippingOutput(
        source="price.quote", allow_null=True,
        help_text="the chosen method (?shipping_method=), else the cheapest serving the country; "
        "null without a country or when none serves it",
    )
    tax = TaxRowOutput(many=True, source="breakdown.tax")
    gift_cards = GiftCardUseOutput(many=True, source="breakdown.gift_cards")
    total = MoneyField(source="breakdown.total")
    item_count = serializers.IntegerField()
    orderable = serializers.BooleanField(source="is_orderable")
    warnings = serializers.ListField(child=serializers.CharField())


class _PricedCart:
    """A CartView with its price, as CartOutput reads it."""

    def __init__(self, cart, price):
        self._cart, self.price, self.breakdown = cart, price, price_breakdown(price)
        error = price.voucher_error
        self.voucher_problem = None if error is None else {"code": str(error.code), "detail": str(error.message)}

    def __getattr__(self, name):
        return getattr(self._cart, name)


def _query_shipping_method(request) -> int | None:
    raw = request.query_params.get("shipping_method", "")
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= DB_ID_MAX:
        raise serializers.ValidationError({"shipping_method": [_("Enter a shipping method id.")]})
    return int(raw)


def api_country(request) -> str:
    """?country=DE (two ASCII letters; anything else, even empty, is a 400), else "" (the default address's)."""
    if "country" not in request.query_params:
        return ""
    country = request.query_params["country"].strip().upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise serializers.ValidationError({"country": [_("Enter a two-letter country code.")]})
    return country


def priced_cart(request):
    """The caller's cart priced for ?country= and ?shipping_method= (CartOutput's object)."""
    owner = CartOwner(user=request.user)
    cart = cart_get(owner=owner, currency=api_currency(request))
    price = cart_price_for_owner(
        owner=owner, cart=cart, country=api_country(request), shipping_method=_query_shipping_method(request)
    )
    return _PricedCart(cart, price)


def _cart_response(request, status_code=status.HTTP_200_OK) -> Response:
    return Response(CartOutput(priced_cart(request)).data, status=status_code)


COUNTRY_PARAMETER = OpenApiParameter(
    "country", str, OpenApiParameter.QUERY, required=False, pattern="^[A-Za-z]{2}$",
    description="Where the cart ships (ISO 3166-1 alpha-2): its tax rates and shipping methods. "
    "Default: the caller's default shipping address.",
)
SHIPPING_METHOD_PARAMETER = OpenApiParameter(
    "shipping_method", {"type": "integer", "minimum": 1, "maximum": DB_ID_MAX}, OpenApiParameter.QUERY,
    required=False,
    description="The shipping method to price (default: the cheapest serving the country).",
)


_LINE_EXAMPLE = {
    "id": 7,
    "product": 42,
    "sku": "TEE-RED-M",
    "name": "Red T-shirt",
    "slug": "red-t-shirt",
    "quantity": 2,
    "unit_price": {"amount": "12.50", "currency": "USD"},
    "line_total": {"amount": "25.00", "currency": "USD"},
    "available": 18,
    "price_changed": False,
    "orderable": True,
    "warnings": [],
}
CART_EXAMPLE = OpenApiExample(
    "cart",
    value={
        "currency": "USD",
        "lines": [_LINE_EXAMPLE],
        "subtotal": {"amount": "25.00", "currency": "USD"},
        "voucher": "WELCOME10",
        "voucher_error": None,
        "discounts": [{"source": "voucher", "code": "WELCOME10", "amount": {"amount": "2.50", "currency": "USD"}}],
        "shipping": {"method": 3, "name": "Standard", "carrier": "UPS", "price": {"amount": "4.90", "currency": "USD"}},
        "tax": [{"rate": "0.00", "net": {"amount": "27.40", "currency": "USD"},
                 "tax": {"amount": "0.00", "currency": "USD"}}],
        "gift_cards": [{"last4": "HJ4N", "amount": {"amount": "10.00", "currency": "USD"}}],
        "total": {"amount": "17.40", "currency": "USD"},
        "item_count": 2,
        "orderable": True,
        "warnings": [],
    },
    response_only=True,
    status_codes=["200", "201"],
)
_LINE_ID = OpenApiParameter("line_id", int, OpenApiParameter.PATH, description="The cart line's id.")


class CartApi(APIView):
    @extend_schema(
        operation_id="cart_get",
        parameters=[CURRENCY_PARAMETER, COUNTRY_PARAMETER, SHIPPING_METHOD_PARAMETER],
        responses={200: CartOutput, **error_responses(codes={400: [CoreErrorCode.INVALID]})},
        summary="The caller's cart",
        description="The caller's cart with current prices (in `currency`), stock and warnings, and what it "
        "costs delivered to `country`: subtotal, discounts, shipping, tax by rate, gift cards, total.",
        examples=[CART_EXAMPLE],
    )
    def get(self, request):
        return _cart_response(request)


class CartLineAddInput(serializers.Serializer):
    """`variant`, or `product` alone for a product with a single variant (else 400 variant_required)."""

    product = StrictIntegerField(min_value=1, max_value=DB_ID_MAX, required=False)
    variant = StrictIntegerField(min_value=1, max_value=DB_ID_MAX, required=False)
    quantity = StrictIntegerField(
        min_value=1,
        max_value=MAX_LINE_QUANTITY,
        error_messages={"invalid": _("Enter a whole number.")},
    )


class CartLineUpdateInput(serializers.Serializer):
    partial_on_patch = False  # PATCH sets the quantity: it is required (shop.core.schema)

    quantity = StrictIntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class CartLinesApi(APIView):
    @extend_schema(
        operation_id="cart_line_add",
        parameters=[CURRENCY_PARAMETER],
        request=CartLineAddInput,
        responses={
            201: CartOutput,
            **error_responses(
                codes={
                    400: [CoreErrorCode.INVALID, CatalogErrorCode.VARIANT_REQUIRED, CatalogErrorCode.VARIANT_INVALID],
                    409: [CatalogErrorCode.OUT_OF_STOCK],
                }
            ),
        },
        summary="Add a variant to the cart",
        description="Adds `quantity` of a variant (or of a product that has a single variant; a product with "
        "several is a 400 `variant_required`); a variant already in the cart adds up. Answers with the whole cart.",
        examples=[
            OpenApiExample("add a variant", value={"variant": 42, "quantity": 2}, request_only=True),
            OpenApiExample("add a single-variant product", value={"product": 7, "quantity": 1}, request_only=True),
            CART_EXAMPLE,
        ],
    )
    def post(self, request):
        data = CartLineAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        product_id, variant_id = data.validated_data.get("product"), data.validated_data.get("variant")
        if product_id is None and variant_id is None:
            raise serializers.ValidationError({"product": [_("Choose a product or a variant.")]})
        cart_line_add(
            owner=CartOwner(user=request.user),
            product_id=product_id,
            variant_id=variant_id,
            quantity=data.validated_data["quantity"],
        )
        return _cart_response(request, status.HTTP_201_CREATED)


class CartLineDetailApi(APIView):
    @extend_schema(
        operation_id="cart_line_update",
        parameters=[_LINE_ID, CURRENCY_PARAMETER],
        request=CartLineUpdateInput,
        responses={200: CartOutput, **error_responses(codes={409: [CatalogErrorCode.OUT_OF_STOCK]})},
        summary="Set a line's quantity",
        description="Sets the quantity of one of the caller's cart lines. Answers with the whole cart.",
        examples=[OpenApiExample("set quantity", value={"quantity": 3}, request_only=True), CART_EXAMPLE],
    )
    def patch(self, request, line_id: int):
        line = cart_line_get_for_user(user=request.user, line_id=line_id)
        data = CartLineUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart_line_update(
            owner=CartOwner(user=request.user),
            product_id=line.product_id,
            variant_id=line.variant_id,
            quantity=data.validated_data["quantity"],
        )
        return _cart_response(request)

    @extend_schema(
        operation_id="cart_line_remove",
        parameters=[_LINE_ID],
        responses={204: None, **error_responses(404)},
        summary="Remove a line",
        description="Removes one of the caller's cart lines; another user's line is a 404.",
        examples=[OpenApiExample("unknown line", value={"code": "not_found", "detail": "Not found."},
                                 response_only=True, status_codes=["404"])],
    )
    def delete(self, request, line_id: int):
        line = cart_line_get_for_user(user=request.user, line_id=line_id)
        cart_line_remove(owner=CartOwner(user=request.user), product_id=line.product_id, variant_id=line.variant_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartVoucherInput(serializers.Serializer):
    code = serializers.CharField(max_length=40, trim_whitespace=True)


_VOUCHER_ERRORS = [
    CoreErrorCode.INVALID,
    PricingErrorCode.VOUCHER_INVALID,
    PricingErrorCode.VOUCHER_EXPIRED,
    PricingErrorCode.VOUCHER_EXHAUSTED,
    PricingErrorCode.VOUCHER_MIN_SPEND,
]


class CartVoucherApi(APIView):
    @extend_schema(
        operation_id="cart_voucher_apply",
        parameters=[CURRENCY_PARAMETER, COUNTRY_PARAMETER],
        request=CartVoucherInput,
        responses={200: CartOutput, **error_responses(codes={400: _VOUCHER_ERRORS})},
        summary="Apply a voucher code",
        description="Puts a voucher on the caller's cart (replacing any other) and answers with the cart "
        "priced with it. Unknown, expired, used-up codes and carts below the voucher's minimum are a 400 "
        "and leave the cart as it was. Its use is counted when an order is placed.",
        examples=[OpenApiExample("apply", value={"code": "WELCOME10"}, request_only=True), CART_EXAMPLE],
    )
    def post(self, request):
        data = CartVoucherInput(data=request.data)
        data.is_valid(raise_exception=True)
        owner = CartOwner(user=request.user)
        cart = cart_get(owner=owner, currency=api_currency(request))
        goods = cart_price(currency=cart.currency, items=cart_items(cart),
                           prices_include_tax=settings.PRICES_INCLUDE_TAX).priced
        cart_voucher_apply(
            user=request.user, code=data.validated_data["code"], goods=goods.subtotal - goods.promotion_discount
        )
        return _cart_response(request)

    @extend_schema(
        operation_id="cart_voucher_remove",
        parameters=[CURRENCY_PARAMETER, COUNTRY_PARAMETER],
        request=None,
        responses={200: CartOutput, **error_responses(codes={400: [CoreErrorCode.INVALID]})},
        summary="Remove the voucher",
        description="Takes the voucher off the caller's cart (none on it is fine); answers with the cart.",
        examples=[CART_EXAMPLE],
    )
    def delete(self, request):
        cart_voucher_remove(user=request.user)
        return _cart_response(request)


class CartGiftCardInput(serializers.Serializer):
    code = serializers.CharField(max_length=40, trim_whitespace=True, help_text="the gift card's code, e.g. K7QD-M2XA-...")


class CartGiftCardsApi(APIView):
    @extend_schema(
        operation_id="cart_gift_card_apply",
        parameters=[CURRENCY_PARAMETER, COUNTRY_PARAMETER],
        request=CartGiftCardInput,
        responses={
            200: CartOutput,
            **error_responses(codes={400: [CoreErrorCode.INVALID, PaymentErrorCode.GIFT_CARD_INVALID],
                                     429: [CoreErrorCode.THROTTLED]}),
        },
        summary="Apply a gift card",
        description="Puts a gift card on the caller's cart (several may be applied; each pays "
        "`min(its balance, what is left)` in the order applied) and answers with the cart: `gift_cards` and "
        "`total` after them. Any unusable code (unknown, switched off, expired, another currency, nothing left "
        "on it) is the same 400 `gift_card_invalid`; too many wrong codes from the account or its address are a "
        "429 (with Retry-After) before any code is looked up. The card is spent when an order is placed; a "
        "card spent meanwhile elsewhere makes that checkout a 402 `gift_card_insufficient`.",
        examples=[OpenApiExample("apply", value={"code": "K7QD-M2XA-9PRT-WX3C-HJ4N"}, request_only=True),
                  CART_EXAMPLE],
    )
    def post(self, request):
        data = CartGiftCardInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart_gift_card_apply(
            user=request.user, code=data.validated_data["code"], currency=api_currency(request),
            attempt_keys=gift_card_attempt_keys(request),
        )
        return _cart_response(request)


class CartGiftCardDetailApi(APIView):
    @extend_schema(
        operation_id="cart_gift_card_remove",
        parameters=[
            OpenApiParameter("last4", str, OpenApiParameter.PATH, description="The card's last four characters."),
            CURRENCY_PARAMETER, COUNTRY_PARAMETER,
        ],
        request=None,
        responses={200: CartOutput},
        summary="Remove a gift card",
        description="Takes the gift card ending in `last4` off the caller's cart (none is fine); answers with the cart.",
        examples=[CART_EXAMPLE],
    )
    def delete(self, request, last4: str):
        cart_gift_card_remove(user=request.user, last4=last4)
        return _cart_response(request)


class ShippingMethodDaysOutput(serializers.Serializer):
    min = serializers.IntegerField(source="min_delivery_days")
    max = serializers.IntegerField(source="max_delivery_days")


class ShippingMethodOutput(serializers.Serializer):
    id = serializers.IntegerField(source="method_id")
    name = serializers.CharField()
    carrier = serializers.CharField()
    price = MoneyField()
    delivery_days = ShippingMethodDaysOutput(source="*")


class ShippingMethodsApi(APIView):
    @extend_schema(
        operation_id="shipping_method_list",
        parameters=[
            OpenApiParameter("country", str, OpenApiParameter.QUERY, required=True, pattern="^[A-Za-z]{2}$",
                             description="Where to ship (ISO 3166-1 alpha-2)."),
            CURRENCY_PARAMETER,
        ],
        responses={200: ShippingMethodOutput(many=True), **error_responses(codes={400: [CoreErrorCode.INVALID]})},
        summary="Shipping methods for the cart",
        description="The methods that ship the caller's cart (its weight, its subtotal after discounts, in "
        "`currency`) to `country`, cheapest first, each with its price and delivery time in working days. "
        "An empty list: nothing ships there (checkout would answer 400 shipping_unavailable).",
        examples=[OpenApiExample(
            "methods", response_only=True,
            value=[{"id": 3, "name": "Standard", "carrier": "DHL", "price": {"amount": "4.90", "currency": "EUR"},
                    "delivery_days": {"min": 2, "max": 4}}],
        )],
    )
    def get(self, request):
        country = api_country(request)
        if not country:
            raise serializers.ValidationError({"country": [_("Enter a two-letter country code.")]})
        owner = CartOwner(user=request.user)
        cart = cart_get(owner=owner, currency=api_currency(request))
        price = cart_price_for_owner(owner=owner, cart=cart, country=country)
        return Response(ShippingMethodOutput(price.quotes, many=True).data)
