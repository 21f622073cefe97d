"""Orders API: POST/GET /orders/, GET /orders/{number}/, POST /orders/{number}/cancel/ and /returns/
(the PDF documents are in api_documents, a guest's order in api_guest)."""

import math

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.exceptions import CatalogErrorCode
from payments.exceptions import IdempotencyKeyRequired, PaymentErrorCode
from payments.idempotency import HEADER as IDEMPOTENCY_HEADER
from payments.idempotency import KEY_SCHEMA, MAX_KEY_LENGTH, idempotent
from shop.cart.api import DiscountOutput, StrictIntegerField, TaxRowOutput
from shop.cart.exceptions import CartErrorCode
from shop.cart.services import DB_ID_MAX
from shop.core.api import MoneyField, Pagination
from shop.core.exceptions import CoreErrorCode, ShopError
from shop.core.money import request_currency
from shop.core.schema import error_responses
from shop.core.throttling import UserRateThrottle
from shop.orders.api_checkout_input import (
    GUEST_LINES_ORDER_REQUEST,
    GUEST_ORDER_REQUEST,
    OrderCreateInput,
    checkout_token_for_key,
    guest_checkout_token_for_key,
)
from shop.orders.exceptions import CheckoutInvalid, CheckoutThrottled, OrderErrorCode
from shop.orders.guest_access import order_access_path, order_access_token, order_get_by_access_token
from shop.orders.models import Order, Shipment
from shop.orders.selectors import (
    order_details_load,
    order_discounts,
    order_get_for_user,
    order_list_for_user,
    order_placed_details,
    order_tax_rows,
)
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.guest_checkout import GuestBuyer
from shop.orders.services.returns import return_request_create
from shop.orders.services.transitions import order_cancel
from shop.orders.throttling import CheckoutThrottle
from shop.pricing.exceptions import PricingErrorCode
from shop.shipping.exceptions import ShippingErrorCode


class OrderLineAllocationOutput(serializers.Serializer):
    warehouse = serializers.CharField(source="warehouse.code")
    quantity = serializers.IntegerField()


class OrderLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id", allow_null=True)
    variant = serializers.IntegerField(source="variant_id", allow_null=True)
    sku = serializers.CharField()
    options = serializers.DictField(child=serializers.CharField())
    allocations = OrderLineAllocationOutput(many=True, source="allocations.all")
    name = serializers.CharField()
    unit_price = MoneyField()
    quantity = serializers.IntegerField()
    line_total = MoneyField()
    discount = MoneyField()
    net = MoneyField()
    tax_rate = serializers.DecimalField(max_digits=6, decimal_places=3, coerce_to_string=True)
    tax = MoneyField()
    gross = MoneyField()
    refunded_quantity = serializers.IntegerField()


class ShipmentLineOutput(serializers.Serializer):
    sku = serializers.CharField(source="order_line.sku")
    quantity = serializers.IntegerField()


class ShipmentOutput(serializers.Serializer):
    carrier = serializers.CharField(source="carrier.name")
    tracking_number = serializers.CharField()
    tracking_url = serializers.URLField(help_text="The carrier's public tracking page for the parcel.")
    status = serializers.ChoiceField(choices=Shipment.Status.choices)
    shipped_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = ShipmentLineOutput(many=True, source="lines.all")


class OrderEventOutput(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")
    by_staff = serializers.SerializerMethodField()

    def get_by_staff(self, event) -> bool:
        return bool(event.actor_id and event.actor and event.actor.is_staff)


class OrderDocumentOutput(serializers.Serializer):
    """An invoice or credit note of the order, with where to download its PDF."""

    kind = serializers.CharField(help_text="`invoice` or `credit_note`.")
    number = serializers.CharField()
    issued_at = serializers.DateTimeField()
    total = MoneyField()
    url = serializers.SerializerMethodField()

    def get_url(self, invoice) -> str:
        return reverse("orders_api:order-document", args=[invoice.order.number, invoice.number])


class OrderShippingOutput(serializers.Serializer):
    method = serializers.CharField()
    carrier = serializers.CharField()
    price = MoneyField()


class OrderGiftCardOutput(serializers.Serializer):
    last4 = serializers.CharField()
    amount = MoneyField(help_text="what the card paid")
    refunded = MoneyField(help_text="what went back to the card")


class OrderOutput(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    currency = serializers.CharField()
    subtotal = MoneyField()
    discounts = serializers.SerializerMethodField()
    shipping = serializers.SerializerMethodField()
    tax = serializers.SerializerMethodField()
    gift_cards = OrderGiftCardOutput(many=True, source="gift_card_uses.all")
    gift_card_total = MoneyField()
    total = MoneyField(help_text="what the payment (wallet or card) charged: the order less its gift cards")
    refunded_total = MoneyField(help_text="what the payment gave back (gift cards: `gift_cards[].refunded`)")
    payment_method = serializers.CharField()
    shipping_address = serializers.JSONField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()
    reservation_expires_at = serializers.DateTimeField(allow_null=True)
    lines = OrderLineOutput(many=True)
    shipments = ShipmentOutput(many=True, source="shipments.all")
    documents = OrderDocumentOutput(many=True, source="invoices.all")


    @extend_schema_field(DiscountOutput(many=True))
    def get_discounts(self, order) -> list:
        return DiscountOutput(order_discounts(order), many=True).data

    @extend_schema_field(OrderShippingOutput(allow_null=True))
    def get_shipping(self, order):
        """The method as chosen and priced when the order was placed (null for orders from before shipping)."""
        if not order.shipping:
            return None
        return OrderShippingOutput(
            {"method": order.shipping["name"], "carrier": order.shipping["carrier"], "price": order.shipping_price}
        ).data

    @extend_schema_field(TaxRowOutput(many=True))
    def get_tax(self, order) -> list:
        return TaxRowOutput(order_tax_rows(order), many=True).data


class OrderDetailOutput(OrderOutput):
    events = OrderEventOutput(many=True)


_MONEY = {"amount": "25.00", "currency": "USD"}
ORDER_EXAMPLE = {
    "number": "SH-2026-000123",
    "status": "paid",
    "status_display": "Paid",
    "currency": "USD",
    "subtotal": {"amount": "29.90", "currency": "USD"},
    "discounts": [{"source": "voucher", "code": "WELCOME10", "amount": {"amount": "2.99", "currency": "USD"}}],
    "shipping": {"method": "Standard", "carrier": "UPS", "price": {"amount": "2.99", "currency": "USD"}},
    "tax": [{"rate": "0.00", "net": {"amount": "29.90", "currency": "USD"},
             "tax": {"amount": "0.00", "currency": "USD"}}],
    "gift_cards": [],
    "gift_card_total": {"amount": "0.00", "currency": "USD"},
    "total": {"amount": "29.90", "currency": "USD"},
    "refunded_total": {"amount": "0.00", "currency": "USD"},
    "payment_method": "wallet",
    "shipping_address": {"full_name": "Alex Doe", "line1": "1 Main Street", "city": "Springfield",
                         "postal_code": "12345", "country": "US"},
    "created_at": "2026-11-30T10:15:00Z",
    "paid_at": "2026-11-30T10:15:01Z",
    "shipped_at": None,
    "delivered_at": None,
    "cancelled_at": None,
    "cancel_reason": "",
    "reservation_expires_at": None,
    "lines": [{"id": 9, "product": 42, "sku": "TEE-RED-M", "name": "Red T-shirt", "unit_price":
               {"amount": "12.50", "currency": "USD"}, "quantity": 2, "line_total": _MONEY, "refunded_quantity": 0}],
    "shipments": [],
    "documents": [{"kind": "invoice", "number": "INV-2026-000042", "issued_at": "2026-11-30T10:15:01Z",
                   "total": {"amount": "29.90", "currency": "USD"},
                   "url": "/api/v1/orders/SH-2026-000123/documents/INV-2026-000042.pdf"}],
}
ORDER_DETAIL_EXAMPLE = {
    **ORDER_EXAMPLE,
    "events": [{"from_status": "pending_payment", "to_status": "paid", "reason": "",
                "at": "2026-11-30T10:15:01Z", "by_staff": False}],
}
SHIPPED_ORDER_DETAIL_EXAMPLE = {
    **ORDER_DETAIL_EXAMPLE,
    "status": "shipped",
    "status_display": "Shipped",
    "shipped_at": "2026-12-01T09:00:00Z",
    "shipments": [{"carrier": "DHL", "tracking_number": "00340434161234567890",
                   "tracking_url": "https://www.dhl.com/de-en/home/tracking.html?tracking-id=00340434161234567890",
                   "status": "shipped", "shipped_at": "2026-12-01T09:00:00Z", "delivered_at": None,
                   "lines": [{"sku": "TEE-RED-M", "quantity": 2}]}],
    "events": [*ORDER_DETAIL_EXAMPLE["events"],
               {"from_status": "paid", "to_status": "shipped", "reason": "Shipped 00340434161234567890 with DHL",
                "at": "2026-12-01T09:00:00Z", "by_staff": True}],
}
NUMBER_PARAMETER = OpenApiParameter("number", str, OpenApiParameter.PATH, description="The order number, e.g. SH-2026-000123.")


def _response_example(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


class OrdersApi(ListAPIView):
    """GET: the caller's orders (paginated). POST: check out the cart (Idempotency-Key required)."""

    serializer_class = OrderOutput
    pagination_class = Pagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]  # a guest checks out with an e-mail; GET lists an account's orders
        return [IsAuthenticated()]

    def get_throttles(self):
        if self.request.method == "POST":
            # The same per-user counter as the checkout page: a bot gets the limit once, not per door.
            return [CheckoutThrottle(), UserRateThrottle()]
        return super().get_throttles()

    def throttled(self, request, wait):
        raise CheckoutThrottled(retry_after=math.ceil(wait) if wait else None)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, CheckoutThrottled) and exc.extra.get("retry_after"):
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return order_list_for_user(user=self.request.user)

    @extend_schema(
        operation_id="order_list",
        summary="The caller's orders",
        description="The caller's orders, newest first; paginated.",
        examples=[_response_example("orders", ORDER_EXAMPLE)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="order_place",
        request=OrderCreateInput,
        responses={
            201: OpenApiResponse(OrderDetailOutput, description="Paid."),
            202: OpenApiResponse(OrderDetailOutput, description="Placed; the card payment is being confirmed."),
            **error_responses(
                codes={
                    400: [
                        CoreErrorCode.INVALID,
                        CartErrorCode.CART_EMPTY,
                        CartErrorCode.PRODUCT_UNAVAILABLE,
                        CatalogErrorCode.VARIANT_REQUIRED,
                        CatalogErrorCode.VARIANT_INVALID,
                        ShippingErrorCode.SHIPPING_UNAVAILABLE,
                        ShippingErrorCode.SHIPPING_METHOD_REQUIRED,
                        ShippingErrorCode.SHIPPING_METHOD_UNAVAILABLE,
                        PricingErrorCode.VOUCHER_INVALID,
                        PricingErrorCode.VOUCHER_EXPIRED,
                        PricingErrorCode.VOUCHER_EXHAUSTED,
                        PricingErrorCode.VOUCHER_CUSTOMER_LIMIT,
                        PricingErrorCode.VOUCHER_MIN_SPEND,
                        OrderErrorCode.WALLET_REQUIRES_ACCOUNT,
                    ],
                    402: [
                        PaymentErrorCode.CARD_DECLINED,
                        PaymentErrorCode.INSUFFICIENT_FUNDS,
                        PaymentErrorCode.GIFT_CARD_INSUFFICIENT,
                    ],
                    409: [
                        OrderErrorCode.PRICE_CHANGED,
                        CatalogErrorCode.OUT_OF_STOCK,
                        CartErrorCode.CART_CHANGED,
                        PaymentErrorCode.IDEMPOTENCY_KEY_REUSED,
                        PaymentErrorCode.REQUEST_IN_PROGRESS,
                    ],
                    429: [CoreErrorCode.THROTTLED],
                    503: [PaymentErrorCode.PROVIDER_UNAVAILABLE],
                }
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", KEY_SCHEMA, OpenApiParameter.HEADER, required=True,
                description="A fresh key per checkout (e.g. a UUID); a retry with the same key and body "
                "answers the first answer again and places nothing twice.",
            )
        ],
        summary="Check out the cart",
        description="Places an order for the caller's cart and pays it: the cart's gift cards first, the rest "
        "by wallet or card (nothing more when the cards cover it): 201 paid, 202 the card payment is being "
        "confirmed, 402 declined or insufficient funds, or `gift_card_insufficient` when a gift card on the cart "
        "was spent meanwhile by another order (nothing is made; the cart shows what is left on it). Without a "
        "session token or a signed-in session, a guest checks out: `email` and an address object, card only, "
        "and either `lines` (with an optional `voucher_code`; no session or cookie needed, and then no CSRF "
        "token: such a request carries no credentials) or else the session's cart (a browser: its session "
        "cookie needs the CSRF token). `lines` win over a session cart. A guest with no session replays by "
        "the same `email` and Idempotency-Key. The answer adds `order_url` and `access_token`, the order's "
        "signed link.",
        examples=[
            OpenApiExample(
                "by wallet", value={"payment_method": "wallet", "currency": "USD", "shipping_address": 3, "shipping_method": 1,
                       "expected_total": {"amount": "29.90", "currency": "USD"}},
                request_only=True,
            ),
            OpenApiExample(
                "by card", value={"payment_method": "card", "card_token": "tok_ok", "shipping_address": 3, "shipping_method": 1},
                request_only=True,
            ),
            OpenApiExample("as a guest", value=GUEST_ORDER_REQUEST, request_only=True),
            OpenApiExample("as a guest, with lines (no session)", value=GUEST_LINES_ORDER_REQUEST, request_only=True),
            _response_example("paid", ORDER_DETAIL_EXAMPLE, 201),
        ],
    )
    def post(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self._guest_post(request)
        return self._account_post(request, *args, **kwargs)

    def _guest_post(self, request):
        """A guest's checkout of `lines` or the session cart: by card, to an address typed in; the checkout
        token (one order per session, or e-mail without one, and Idempotency-Key) makes a replay answer the
        same order."""
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            # The session cart is the browser's: no cross-site order. A request without the cookie carries
            # no ambient credentials (its lines are in its body), so there is nothing to forge.
            SessionAuthentication().enforce_csrf(request)
        raw = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
        if not raw or len(raw) > MAX_KEY_LENGTH:  # no key record (that needs a user): the order's token dedupes
            raise IdempotencyKeyRequired(field=IDEMPOTENCY_HEADER)
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if not values.get("email"):
            raise CheckoutInvalid(_("Enter your e-mail address, or sign in."), field="email")
        lines = values.get("lines")
        guest = GuestBuyer(
            email=values["email"], session=request.session,
            lines=None if lines is None else tuple((line.get("product"), line.get("variant"), line["quantity"])
                                                    for line in lines),
            voucher_code=values.get("voucher_code", ""),
        )
        token = guest_checkout_token_for_key(
            session_key=request.session.session_key or "", key=raw, email=values["email"].strip().lower()
        )
        try:
            result = order_place(
                user=None, guest=guest,
                payment_method=values["payment_method"], card_token=values.get("card_token", ""),
                currency=values.get("currency") or request_currency(request),
                shipping_address=values["shipping_address"], shipping_method=values.get("shipping_method"),
                expected_total=values.get("expected_total"), checkout_token=token,
            )
        except ShopError as exc:
            if guest.voucher_code and exc.field == "code":  # the pricing's voucher errors name the cart's field
                exc.field = "voucher_code"
            raise
        if result.outcome == PlaceOutcome.DECLINED:
            return Response(result.error.as_dict(), status=result.error.status_code)
        order = order_get_by_access_token(order_access_token(result.order))
        body = {**OrderDetailOutput(order).data, "order_url": order_access_path(order),
                "access_token": order_access_token(order)}
        return self._placed_answer(body, result)

    @idempotent("checkout")
    def _account_post(self, request, *args, **kwargs):
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "lines" in values:
            raise CheckoutInvalid(_("A signed-in checkout buys your cart: add the lines to it."), field="lines")
        result = order_place(
            user=request.user,
            payment_method=values["payment_method"],
            card_token=values.get("card_token", ""),
            currency=values.get("currency") or request_currency(request),
            shipping_address=values["shipping_address"],
            shipping_method=values.get("shipping_method"),
            expected_total=values.get("expected_total"),
            checkout_token=checkout_token_for_key(user=request.user, key=request.headers[IDEMPOTENCY_HEADER].strip()),
        )
        if result.outcome == PlaceOutcome.DECLINED:
            return Response(result.error.as_dict(), status=result.error.status_code)
        # The order checkout answers with is current and the caller's own: only its details are read, or
        # (a wallet order made and paid by this request) taken from what its transaction wrote.
        order = order_placed_details(result.order) if result.made_now else order_details_load(result.order)
        body = OrderDetailOutput(order).data
        return self._placed_answer(body, result)

    def _placed_answer(self, body, result) -> Response:
        if result.outcome == PlaceOutcome.PENDING:
            body = {**body, "detail": _("Your payment is being confirmed. We will e-mail you when it is done.")}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    @extend_schema(
        operation_id="order_get",
        parameters=[NUMBER_PARAMETER],
        responses=OrderDetailOutput,
        summary="One of the caller's orders",
        description="One of the caller's orders with its timeline; another user's is a 404.",
        examples=[_response_example("order", SHIPPED_ORDER_DETAIL_EXAMPLE)],
    )
    def get(self, request, number: str):
        return Response(OrderDetailOutput(order_get_for_user(user=request.user, number=number)).data)


class OrderCancelInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="order_cancel",
        parameters=[NUMBER_PARAMETER],
        request=OrderCancelInput,
        responses={
            200: OrderDetailOutput,
            **error_responses(
                codes={409: [CoreErrorCode.INVALID_TRANSITION, OrderErrorCode.PAYMENT_BEING_CONFIRMED]}
            ),
        },
        summary="Cancel an unpaid order",
        description="Cancels an order still waiting for its payment; any other state is a 409.",
        examples=[
            OpenApiExample("cancel", value={"reason": "Ordered the wrong size"}, request_only=True),
            _response_example("cancelled", {**ORDER_DETAIL_EXAMPLE, "status": "cancelled",
                                            "status_display": "Cancelled"}),
        ],
    )
    def post(self, request, number: str):
        order = order_get_for_user(user=request.user, number=number)
        data = OrderCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        order_cancel(
            order_id=order.id, actor=request.user, reason=data.validated_data["reason"] or _("Cancelled by the shopper")
        )
        return Response(OrderDetailOutput(order_get_for_user(user=request.user, number=number)).data)


class ReturnLineInput(serializers.Serializer):
    line = StrictIntegerField(min_value=1, max_value=DB_ID_MAX)
    quantity = StrictIntegerField(min_value=1, max_value=10_000)


class ReturnCreateInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    lines = ReturnLineInput(many=True, allow_empty=False)


class ReturnOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class OrderReturnsApi(APIView):
    @extend_schema(
        operation_id="order_return_request",
        parameters=[NUMBER_PARAMETER],
        request=ReturnCreateInput,
        responses={201: ReturnOutput, **error_responses(codes={409: [CoreErrorCode.INVALID_TRANSITION]})},
        summary="Ask to return some items",
        description="Asks to return items of a paid, shipped or delivered order; staff decide, "
        "and an approved return is refunded.",
        examples=[
            OpenApiExample("return", value={"reason": "Too small", "lines": [{"line": 9, "quantity": 1}]},
                           request_only=True),
            _response_example("requested", {"id": 4, "status": "requested"}, 201),
        ],
    )
    def post(self, request, number: str):
        order = order_get_for_user(user=request.user, number=number)
        data = ReturnCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        lines: dict[int, int] = {}
        for item in data.validated_data["lines"]:
            lines[item["line"]] = lines.get(item["line"], 0) + item["quantity"]
        request_obj = return_request_create(
            order_id=order.id, user=request.user, lines=lines, reason=data.validated_data["reason"]
        )
        return Response({"id": request_obj.id, "status": request_obj.status}, status=status.HTTP_201_CREATED)
