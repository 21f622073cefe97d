"""API of the accounts app: the caller's profile (`/api/v1/me/`) and addresses."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.countries import COUNTRY_CHOICES
from shop.core.api import Pagination, StrictBooleanField, StrictCharField


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


class MeApi(APIView):
    """The signed-in user's profile."""

    @extend_schema(responses=MeOutput)
    def get(self, request):
        return Response(MeOutput(_me(request.user)).data)

    @extend_schema(request=MeInput, responses=MeOutput)
    def patch(self, request):
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
        choices=COUNTRY_CHOICES,
        error_messages={"invalid_choice": _("Enter a supported two-letter country code (ISO 3166-1), such as DE or US.")},
    )
    phone = StrictCharField(max_length=32, allow_blank=True, required=False, default="")
    is_default_shipping = StrictBooleanField(required=False, default=False)


_ADDRESS_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The address id.")


@extend_schema_view(
    retrieve=extend_schema(parameters=[_ADDRESS_ID]),
    update=extend_schema(parameters=[_ADDRESS_ID]),
    partial_update=extend_schema(parameters=[_ADDRESS_ID]),
    destroy=extend_schema(parameters=[_ADDRESS_ID]),
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
