"""Cart API for signed-in apps: GET /cart/, POST /cart/lines/, PATCH/DELETE /cart/lines/{id}/."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

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
from shop.core.money import request_currency


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON number or digit string; refuses 2.5, "2.0", true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or isinstance(data, float):
            self.fail("invalid")
        if isinstance(data, str) and not data.strip().lstrip("-").isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


def api_currency(request) -> str:
    """?currency=EUR when supported, else the session's choice, else the default."""
    currency = request.query_params.get("currency", "")
    return currency if currency in settings.CURRENCIES else request_currency(request)


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


class CartApi(APIView):
    @extend_schema(responses=CartOutput, summary="The caller's cart with current prices, stock and warnings")
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
    quantity = StrictIntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class CartLinesApi(APIView):
    @extend_schema(request=CartLineAddInput, responses={201: CartOutput}, summary="Add a variant, or a single-variant product (quantities add up)")
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
    @extend_schema(request=CartLineUpdateInput, responses=CartOutput, summary="Set a line's quantity")
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

    @extend_schema(responses={204: None}, summary="Remove a line")
    def delete(self, request, line_id: int):
        line = cart_line_get_for_user(user=request.user, line_id=line_id)
        cart_line_remove(owner=CartOwner(user=request.user), product_id=line.product_id, variant_id=line.variant_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
