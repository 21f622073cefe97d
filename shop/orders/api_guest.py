"""Guest orders API: GET /guest-orders/{token}/, a guest's order opened by its signed token.

The guest's checkout itself is `POST /orders/` without a session (shop.orders.api.OrdersApi).
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.core.exceptions import CoreErrorCode
from shop.core.schema import error_responses
from shop.orders.api import ORDER_DETAIL_EXAMPLE, OrderDetailOutput
from shop.orders.guest_access import order_access_path, order_access_token, order_get_by_access_token


class GuestOrderDetailOutput(OrderDetailOutput):
    order_url = serializers.SerializerMethodField(
        help_text="The order's page for a guest: a signed link (also in the confirmation e-mail)."
    )
    access_token = serializers.SerializerMethodField(
        help_text="The signed token of that page: `GET /api/v1/guest-orders/{access_token}/` reads the order."
    )

    def get_order_url(self, order) -> str:
        return order_access_path(order)

    def get_access_token(self, order) -> str:
        return order_access_token(order)


class GuestOrderDetailApi(APIView):
    """A guest's order, opened by its signed token (the link in the confirmation e-mail)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="guest_order_get",
        parameters=[
            OpenApiParameter("token", str, OpenApiParameter.PATH, description="The order's signed token.")
        ],
        responses={200: GuestOrderDetailOutput, **error_responses(codes={404: [CoreErrorCode.NOT_FOUND]})},
        summary="A guest's order, by its signed token",
        description="The guest order the signed token opens (the `access_token` of the checkout's answer); a "
        "changed, forged or expired token, or an order since attached to an account, is a 404.",
        auth=[],
        examples=[
            OpenApiExample(
                "guest order",
                value={
                    **ORDER_DETAIL_EXAMPLE,
                    "payment_method": "card",
                    "order_url": "/orders/guest/eyJuIjoiU08tMjYx…/",
                    "access_token": "eyJuIjoiU08tMjYx…",
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request, token: str):
        return Response(GuestOrderDetailOutput(order_get_by_access_token(token)).data)
