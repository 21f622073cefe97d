"""API of the accounts app: the caller's profile (`/api/v1/me/`) and addresses."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.countries import SHOP_COUNTRY_CODES
from shop.core.api import Pagination, StrictBooleanField, StrictCharField, body_require
from shop.core.schema import error_responses


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    preferred_language = serializers.CharField()
    email_verified = serializers.BooleanField()
    is_staff = serializers.BooleanField()
    date_joined = serializers.DateTimeField()


class MeInput(serializers.Serializer):
    full_name = StrictCharField(max_length=150, allow_blank=True, required=False)
    preferred_language = serializers.ChoiceField(
        choices=[""] + [code for code, _name in settings.LANGUAGES], allow_blank=True, required=False
    )


def _me(user) -> dict:
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "preferred_language": user.preferred_language,
        "email_verified": selectors.user_has_verified_email(user),
        "is_staff": user.is_staff,
        "date_joined": user.date_joined,
    }


ME_EXAMPLE = OpenApiExample(
    "me",
    value={
        "id": 5,
        "email": "shopper@example.com",
        "full_name": "Alex Doe",
        "preferred_language": "en",
        "email_verified": True,
        "is_staff": False,
        "date_joined": "2026-11-01T09:00:00Z",
    },
    response_only=True,
    status_codes=["200"],
)


class MeApi(APIView):
    """The signed-in user's profile."""

    @extend_schema(
        operation_id="me_get",
        responses=MeOutput,
        summary="The caller's profile",
        description="The signed-in user's profile, with whether the e-mail is verified.",
        examples=[ME_EXAMPLE],
    )
    def get(self, request):
        return Response(MeOutput(_me(request.user)).data)

    @extend_schema(
        operation_id="me_update",
        request=MeInput,
        responses=MeOutput,
        summary="Change the caller's profile",
        description="Changes only the fields sent.",
        examples=[OpenApiExample("rename", value={"full_name": "Alex Doe"}, request_only=True), ME_EXAMPLE],
    )
    def patch(self, request):
        body_require(request)
        data = MeInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, **data.validated_data)
        return Response(MeOutput(_me(user)).data)


class AddressOutput(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()
    line1 = serializers.CharField()
    line2 = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    region = serializers.CharField()
    country = serializers.CharField()
    phone = serializers.CharField()
    is_default_shipping = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AddressInput(serializers.Serializer):
    full_name = StrictCharField(max_length=150)
    line1 = StrictCharField(max_length=200)
    line2 = StrictCharField(max_length=200, allow_blank=True, required=False, default="")
    city = StrictCharField(max_length=100)
    postal_code = StrictCharField(max_length=20)
    region = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    # Exactly as the schema's enum says: an upper-case ISO 3166-1 code of a supported country.
    country = serializers.ChoiceField(
        choices=SHOP_COUNTRY_CODES,
        error_messages={"invalid_choice": _("Enter a supported two-letter country code (ISO 3166-1), such as DE or US.")},
    )
    phone = StrictCharField(max_length=32, allow_blank=True, required=False, default="")
    is_default_shipping = StrictBooleanField(required=False, default=False)


_ADDRESS_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The address id.")
_ADDRESS_FIELDS = {
    "full_name": "Alex Doe",
    "line1": "1 Main Street",
    "line2": "",
    "city": "Springfield",
    "postal_code": "12345",
    "region": "",
    "country": "US",
    "phone": "",
    "is_default_shipping": True,
}
_ADDRESS_REQUEST = OpenApiExample("address", value=_ADDRESS_FIELDS, request_only=True)


def _address_example(status: int = 200) -> OpenApiExample:
    value = {"id": 3, **_ADDRESS_FIELDS, "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z"}
    return OpenApiExample("address", value=value, response_only=True, status_codes=[str(status)])


@extend_schema_view(
    list=extend_schema(
        operation_id="address_list",
        summary="The caller's addresses",
        description="The caller's saved addresses, the default shipping address first; paginated.",
        examples=[_address_example()],
    ),
    create=extend_schema(
        operation_id="address_create",
        summary="Save an address",
        description="Saves a new address; `is_default_shipping` makes it the default for checkout.",
        examples=[_ADDRESS_REQUEST, _address_example(201)],
    ),
    retrieve=extend_schema(
        operation_id="address_get",
        parameters=[_ADDRESS_ID],
        summary="One address",
        description="One of the caller's addresses; another user's is a 404.",
        examples=[_address_example()],
    ),
    update=extend_schema(
        operation_id="address_replace",
        parameters=[_ADDRESS_ID],
        summary="Replace an address",
        description="Replaces every field of one of the caller's addresses.",
        examples=[_ADDRESS_REQUEST, _address_example()],
    ),
    partial_update=extend_schema(
        operation_id="address_update",
        parameters=[_ADDRESS_ID],
        summary="Change an address",
        description="Changes only the fields sent.",
        examples=[OpenApiExample("new city", value={"city": "Shelbyville"}, request_only=True), _address_example()],
    ),
    destroy=extend_schema(
        operation_id="address_delete",
        parameters=[_ADDRESS_ID],
        summary="Delete an address",
        description="Deletes one of the caller's addresses (orders keep their own copy).",
        responses={204: None, **error_responses(404)},
    ),
    set_default=extend_schema(
        operation_id="address_set_default",
        summary="Make an address the default",
        description="Makes the address the caller's default shipping address.",
        examples=[_address_example()],
    ),
)
class AddressApi(viewsets.ViewSet):
    """The caller's addresses. Another user's address is a 404."""

    pagination_class = Pagination  # tells the schema that the list is paginated

    @extend_schema(responses=AddressOutput(many=True))
    def list(self, request):
        queryset = selectors.addresses_for_user(request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AddressOutput(page, many=True).data)

    @extend_schema(request=AddressInput, responses={201: AddressOutput})
    def create(self, request):
        data = AddressInput(data=request.data)
        data.is_valid(raise_exception=True)
        address = services.address_create(user=request.user, **data.validated_data)
        return Response(AddressOutput(address).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=AddressOutput)
    def retrieve(self, request, pk=None):
        address = selectors.address_get_for_user(request.user, pk)
        return Response(AddressOutput(address).data)

    @extend_schema(request=AddressInput, responses=AddressOutput)
    def update(self, request, pk=None):
        return self._update(request, pk, partial=False)

    @extend_schema(request=AddressInput, responses=AddressOutput)
    def partial_update(self, request, pk=None):
        return self._update(request, pk, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        address = selectors.address_get_for_user(request.user, pk)
        services.address_delete(address=address)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, parameters=[_ADDRESS_ID], responses=AddressOutput)
    @action(detail=True, methods=["post"], url_path="default")
    def set_default(self, request, pk=None):
        address = selectors.address_get_for_user(request.user, pk)
        address = services.address_set_default(address=address)
        return Response(AddressOutput(address).data)

    def _update(self, request, pk, *, partial: bool):
        address = selectors.address_get_for_user(request.user, pk)
        data = AddressInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if partial:
            # A partial update changes only what was sent, not the serializer's defaults.
            changes = {name: value for name, value in changes.items() if name in request.data}
        address = services.address_update(address=address, **changes)
        return Response(AddressOutput(address).data)
