"""OpenAPI generation (drf-spectacular): the shared error answers of every operation."""

from drf_spectacular.contrib.django_allauth import XSessionTokenAuthenticationScheme
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from shop.core.api import ErrorSerializer


class SessionTokenAuthenticationScheme(XSessionTokenAuthenticationScheme):
    """The X-Session-Token header of shop.core.authentication.SessionTokenAuthentication in the schema."""

    target_class = "shop.core.authentication.SessionTokenAuthentication"


class ShopAutoSchema(AutoSchema):
    """Documents the shared error answers every operation can give, beside its own.

    400 (invalid body or query), 401/403 (not signed in / not allowed) unless
    the view is open to all, 404 (objects in the path, pages past the end),
    429 (throttled). Errors of one operation (402, 409, ...) are declared on
    its view with extend_schema; the body is always shop.core.api.ErrorSerializer.
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["400", "429"]
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes += ["401", "403"]
        if "{" in self.path or self.method == "GET":
            codes.append("404")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
