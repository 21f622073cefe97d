"""Cart API for signed-in apps: GET /cart/, POST /cart/lines/, PATCH/DELETE /cart/lines/{id}/."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.exceptions import CatalogErrorCode
from shop.cart.selectors import cart_get, cart_line_get_for_user
from shop.cart.services import (
    DB_ID_MAX,
    MAX_LINE_QUANTITY,
    CartOwner,
    cart_line_add,
    cart_line_remove,
    cart_line_update,
)
from shop.core.api import MoneyField
from shop.core.exceptions import CoreErrorCode
from shop.core.money import request_currency
from shop.core.schema import CURRENCY_PARAMETER, error_responses


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


class CartOutput(serializers.Serializer):
    currency = serializers.CharField()
    lines = CartLineOutput(many=True)
    subtotal = MoneyField()
    item_count = serializers.IntegerField()
    orderable = serializers.BooleanField(source="is_orderable")
    warnings = serializers.ListField(child=serializers.CharField())


def _cart_response(request, status_code=status.HTTP_200_OK) -> Response:
    cart = cart_get(owner=CartOwner(user=request.user), currency=api_currency(request))
    return Response(CartOutput(cart).data, status=status_code)


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
        parameters=[CURRENCY_PARAMETER],
        responses=CartOutput,
        summary="The caller's cart",
        description="The caller's cart with current prices (in `currency`), stock and warnings.",
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
