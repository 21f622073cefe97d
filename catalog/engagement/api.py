"""API: the caller's wishlist (GET lists it, POST saves a product, DELETE takes one off)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.engagement.selectors import wishlist_for_user
from catalog.engagement.services import wishlist_add, wishlist_remove
from catalog.models import Product
from catalog.selectors.stock import product_available


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


class WishlistApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=WishlistItemOutput(many=True))
    def get(self, request):
        return Response(WishlistItemOutput(wishlist_for_user(user=request.user), many=True).data)

    @extend_schema(request=WishlistInput, responses={201: WishlistItemOutput})
    def post(self, request):
        data = WishlistInput(data=request.data)
        data.is_valid(raise_exception=True)
        product = get_object_or_404(Product, slug=data.validated_data["product"], is_active=True)
        item = wishlist_add(user=request.user, product=product)
        return Response(WishlistItemOutput(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WishlistInput, responses={204: None})
    def delete(self, request):
        data = WishlistInput(data=request.data)
        data.is_valid(raise_exception=True)
        product = get_object_or_404(Product, slug=data.validated_data["product"], is_active=True)
        wishlist_remove(user=request.user, product=product)
        return Response(status=status.HTTP_204_NO_CONTENT)
