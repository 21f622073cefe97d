"""API: the caller's wishlist (GET lists it, POST saves a product, DELETE takes one off)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.engagement.selectors import wishlist_for_user
from catalog.engagement.services import wishlist_add, wishlist_remove
from catalog.models import Product
from catalog.selectors.stock import product_available
from shop.core.schema import error_responses


class WishlistInput(serializers.Serializer):
    product = serializers.SlugField(help_text="The product's slug.")


class WishlistItemOutput(serializers.Serializer):
    product = serializers.CharField(source="product.slug")
    name = serializers.CharField(source="product.name")
    url = serializers.CharField(source="product.get_absolute_url")
    available = serializers.SerializerMethodField()
    back_in_stock = serializers.BooleanField(source="back", default=False)
    saved_at = serializers.DateTimeField(source="created_at")

    def get_available(self, item) -> int:
        return product_available(item.product)


_ITEM_EXAMPLE = {
    "product": "trail-runner-sku-000042",
    "name": "Trail Runner",
    "url": "/p/trail-runner-sku-000042/",
    "available": 3,
    "back_in_stock": True,
    "saved_at": "2026-12-01T09:00:00Z",
}
_SAVE_EXAMPLE = OpenApiExample("product", value={"product": "trail-runner-sku-000042"}, request_only=True)


class WishlistApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="wishlist_list",
        responses=WishlistItemOutput(many=True),
        summary="The caller's wishlist",
        description="The products the caller saved, newest first, with how many can be bought now and "
        "whether one the caller asked to be told about is back in stock.",
        examples=[OpenApiExample("wishlist", value=[_ITEM_EXAMPLE], response_only=True)],
    )
    def get(self, request):
        return Response(WishlistItemOutput(wishlist_for_user(user=request.user), many=True).data)

    @extend_schema(
        operation_id="wishlist_add",
        request=WishlistInput,
        responses={201: WishlistItemOutput, **error_responses(404)},
        summary="Save a product to the wishlist",
        description="Saves the product (by slug); saving it again changes nothing. An unknown product is a 404.",
        examples=[_SAVE_EXAMPLE, OpenApiExample("saved", value=_ITEM_EXAMPLE, response_only=True, status_codes=["201"])],
    )
    def post(self, request):
        data = WishlistInput(data=request.data)
        data.is_valid(raise_exception=True)
        product = get_object_or_404(Product, slug=data.validated_data["product"], is_active=True)
        item = wishlist_add(user=request.user, product=product)
        return Response(WishlistItemOutput(item).data, status=status.HTTP_201_CREATED)



class WishlistItemApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="wishlist_remove",
        parameters=[OpenApiParameter("product", str, OpenApiParameter.PATH, description="The product's slug.")],
        responses={204: None, **error_responses(404)},
        summary="Take a product off the wishlist",
        description="Removes the product from the caller's wishlist; one not on it changes nothing. "
        "An unknown product is a 404.",
    )
    def delete(self, request, product: str):
        product = get_object_or_404(Product, slug=product, is_active=True)
        wishlist_remove(user=request.user, product=product)
        return Response(status=status.HTTP_204_NO_CONTENT)
