"""API of a person's own data: the export (`GET /api/v1/me/export/`) and erasure (`DELETE /api/v1/me/`)."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import api, services
from accounts.exceptions import AccountErrorCode
from accounts.models import ErasureRequest
from shop.core.schema import error_responses


def export_response(data: dict, user_id: int) -> HttpResponse:
    """The export as a JSON file download."""
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="shop-personal-data-{user_id}.json"'
    response["Cache-Control"] = "no-store"
    return response


class MeExportApi(APIView):
    """Everything the shop holds about the caller, as a JSON download.

    Sections: profile (with e-mail addresses), addresses, consents, orders,
    payments, wallet_statements, reviews, purchases, cart.
    """

    @extend_schema(
        operation_id="me_export",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The personal-data export.")},
        summary="Download everything the shop holds about the caller",
        description="A JSON file (`Content-Disposition: attachment`) with the sections profile, addresses, "
        "consents, orders, payments, wallet_statements, reviews, purchases and cart.",
        examples=[
            OpenApiExample(
                "export",
                value={"profile": {"email": "alex@example.com", "full_name": "Alex Doe"}, "addresses": []},
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return export_response(services.user_export(user=request.user), request.user.pk)


class MeEraseInput(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class MeApi(api.MeApi):
    """The signed-in user's profile; DELETE erases the account (orders, payments and the ledger stay, anonymised)."""

    @extend_schema(
        operation_id="me_erase",
        request=MeEraseInput,
        responses={
            204: None,
            **error_responses(
                codes={
                    400: [AccountErrorCode.INVALID_PASSWORD],
                    409: ["wallet_not_empty", "wallet_has_pending_payments"],
                }
            ),
        },
        summary="Erase the caller's account",
        description="Anonymises the profile, addresses and review author, ends every session and token, and "
        "keeps orders, payments and the ledger without the person's identity. Needs the password. A wallet "
        "with money is 409 `wallet_not_empty` (withdraw it first); one with a deposit or withdrawal still "
        "being processed is 409 `wallet_has_pending_payments`.",
        examples=[OpenApiExample("erase", value={"password": "my-password-123"}, request_only=True)],
    )
    def delete(self, request):
        data = MeEraseInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_erase(
            user=request.user, password=data.validated_data["password"], channel=ErasureRequest.Channel.API
        )
        if hasattr(request, "session"):
            request.session.flush()
        return Response(status=status.HTTP_204_NO_CONTENT)
