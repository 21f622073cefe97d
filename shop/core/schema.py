"""OpenAPI generation (drf-spectacular): the contract mobile clients are generated from.

- ShopAutoSchema documents the shared error answers of every operation,
  marks every request body required, bounds path ids, names components
  after the resource (`Wallet`, not `WalletOutput`/`WalletRequest`), and
  warns (so `spectacular --fail-on-warn` fails) when an operation has no
  explicit operation_id or no description.
- `error_responses(...)` documents an operation's own error answers (402,
  409, ...) with the codes a client can get, one example per code.
- `postprocess_schema` (a POSTPROCESSING_HOOK) names the error-code enum
  `ErrorCode` and merges allauth's headless "app" endpoints (sign up,
  verify e-mail, log in, session, log out) into the same schema.
"""

import copy
import re
from collections.abc import Iterable

from django.conf import settings
from django.db.models import TextChoices
from drf_spectacular.contrib.django_allauth import XSessionTokenAuthenticationScheme
from drf_spectacular.drainage import warn
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_serializer
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.permissions import AllowAny

from shop.core.api import ErrorSerializer, Pagination
from shop.core.exceptions import CoreErrorCode, error_code_enums

DB_ID_MAX = 2**63 - 1  # ids in paths: positive 64-bit keys (a bigger number is no row at all)

# What each shared error status means, and the codes it carries.
_ERROR_STATUS = {
    400: ("Invalid input: `field` names the first field at fault, `errors` lists all.", [CoreErrorCode.INVALID]),
    401: ("Not signed in, or the session token expired: sign in again.", [CoreErrorCode.NOT_AUTHENTICATED]),
    402: ("The payment was refused.", []),
    403: ("Signed in, but not allowed to do this.", [CoreErrorCode.PERMISSION_DENIED]),
    404: ("Not found (another user's object is a 404 too), or a page past the end.", [CoreErrorCode.NOT_FOUND]),
    409: ("Conflict with the current state.", [CoreErrorCode.CONFLICT]),
    415: ("The body is not JSON: the API accepts `application/json` only.", [CoreErrorCode.UNSUPPORTED_MEDIA_TYPE]),
    429: ("Too many requests: wait `retry_after` seconds.", [CoreErrorCode.THROTTLED]),
    503: ("Temporarily unavailable: try again later.", []),
}

CURRENCY_PARAMETER = OpenApiParameter(
    "currency",
    str,
    OpenApiParameter.QUERY,
    enum=list(settings.CURRENCIES),
    description="Show prices in this currency (default: the session's choice, else the shop's currency).",
)


def _error_code_member(code: TextChoices | str) -> TextChoices:
    """An enum member as given, or the registered member of that value (a code owned by another layer)."""
    if isinstance(code, TextChoices):
        return code
    for enum in error_code_enums():
        if code in enum.values:
            return enum(code)
    raise ValueError(f"{code!r} is not a registered error code")


def error_response(status: int, codes: Iterable[TextChoices | str] = ()) -> OpenApiResponse:
    """An error answer with status `status`, naming `codes` with one example each.

    A code is an enum member, or the value of a registered one where the enum lives in a
    layer the view may not import (accounts naming a payments code).
    """
    description, default_codes = _ERROR_STATUS.get(status, ("Error.", []))
    codes = [_error_code_member(code) for code in codes] or default_codes
    if codes:
        description += " Codes: " + ", ".join(f"`{code.value}`" for code in codes) + "."
    examples = [
        OpenApiExample(
            code.value,
            value={"code": code.value, "detail": str(code.label)},
            response_only=True,
            status_codes=[str(status)],
        )
        for code in codes
    ]
    return OpenApiResponse(ErrorSerializer, description=description, examples=examples)


def error_responses(*statuses: int, codes: dict[int, Iterable[TextChoices]] | None = None) -> dict:
    """Responses for extend_schema: `error_responses(404, codes={409: [OrderErrorCode.OUT_OF_STOCK]})`.

    Statuses named only positionally carry the shared codes of `_ERROR_STATUS`;
    400, 401, 403, 404, 415 and 429 are added by ShopAutoSchema anyway.
    """
    codes = codes or {}
    return {status: error_response(status, codes.get(status, ())) for status in sorted({*statuses, *codes})}


class SessionTokenAuthenticationScheme(XSessionTokenAuthenticationScheme):
    """The X-Session-Token header of shop.core.authentication.SessionTokenAuthentication in the schema."""

    target_class = "shop.core.authentication.SessionTokenAuthentication"


class ShopAutoSchema(AutoSchema):
    """The shop's conventions for every operation (see the module docstring).

    Shared error answers: 400 (invalid body or query), 401/403 (not signed in /
    not allowed) unless the view is open to all, 404 (objects in the path,
    pages past the end), 415 (a body that is not JSON), 429 (throttled).
    Errors of one operation (402, 409, ...) are declared on its view with
    `error_responses`; the body is always shop.core.api.ErrorSerializer.
    """

    def get_operation_id(self) -> str:
        # Reached only when extend_schema(operation_id=...) was not given: generated
        # clients name their functions after it, so it is chosen, never derived.
        operation_id = super().get_operation_id()
        warn(f"{self.method} {self.path} has no explicit operation_id (derived: {operation_id!r})")
        return operation_id

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        serializer = self.get_response_serializers()
        pagination = getattr(serializer, "paginated_by", None)
        if pagination is not None and self.method == "GET":
            # A view paginating by hand (shop.core.api.paginated): its page parameters, bounded.
            parameters = [
                OpenApiParameter("page", int, OpenApiParameter.QUERY, description="A page number, from 1."),
                OpenApiParameter(
                    "page_size", int, OpenApiParameter.QUERY,
                    description=f"Results per page, 1 to {pagination.max_page_size}.",
                ),
                *parameters,
            ]
        return parameters

    def get_description(self) -> str:
        description = super().get_description()
        if not description:
            warn(f"{self.method} {self.path} has no description")
        return description

    def get_serializer_name(self, serializer, direction) -> str:
        # The component is named after what it describes: WalletOutput -> Wallet.
        return super().get_serializer_name(serializer, direction).removesuffix("Output")

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None:
            # A client always sends the JSON object (an empty one where every field is optional).
            body["required"] = True
        return body

    def _get_request_for_media_type(self, serializer, direction="request"):
        if self.method == "PATCH" and is_serializer(serializer) and not getattr(serializer, "partial_on_patch", True):
            # The view validates this PATCH body whole (e.g. a line's new quantity): document it whole.
            self.method = "PUT"
            try:
                return super()._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        return super()._get_request_for_media_type(serializer, direction)

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                parameter["schema"].update(minimum=1, maximum=DB_ID_MAX, format="int64")
            if parameter["in"] == "query" and parameter["name"] in ("page", "page_size"):
                parameter["schema"].setdefault("minimum", 1)
                if parameter["name"] == "page_size":
                    parameter["schema"].setdefault("maximum", Pagination.max_page_size)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        statuses = [400, 429]
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            statuses += [401, 403]
        if "{" in self.path or self.method == "GET":
            statuses.append(404)
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            statuses.append(415)
        for status in statuses:
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(error_response(status), str(status), direction=direction)
        return responses


# --- post-processing --------------------------------------------------------------

# allauth's headless endpoints a mobile app signs in with: (path, method) -> (operationId, summary).
AUTH_OPERATIONS = {
    ("/_allauth/{client}/v1/auth/signup", "post"): "auth_signup",
    ("/_allauth/{client}/v1/auth/email/verify", "post"): "auth_email_verify",
    ("/_allauth/{client}/v1/auth/login", "post"): "auth_login",
    ("/_allauth/{client}/v1/auth/session", "get"): "auth_session",
    ("/_allauth/{client}/v1/auth/session", "delete"): "auth_logout",
}
AUTH_TAG = "auth"
_AUTHENTICATED = {
    "status": 200,
    "data": {
        "user": {"id": 5, "display": "Alex", "email": "shopper@example.com", "has_usable_password": True},
        "methods": [{"method": "password", "at": 1764497700.0, "email": "shopper@example.com"}],
    },
    "meta": {"is_authenticated": True, "session_token": "ufwcig0zen9skyd545jc0fkq813ghar2"},
}
_CREDENTIALS = {"email": "shopper@example.com", "password": "a-long-pass-123"}
# Examples the shop adds to allauth's operations: operation_id -> {"request" or status: value}.
AUTH_EXAMPLES = {
    "auth_signup": {"request": _CREDENTIALS},
    "auth_email_verify": {"request": {"key": "K3X9QF"}, "200": _AUTHENTICATED},
    "auth_login": {"request": _CREDENTIALS, "200": _AUTHENTICATED},
    "auth_session": {"200": _AUTHENTICATED},
}
_REF = re.compile(r"^#/components/(\w+)/([\w.-]+)$")


def postprocess_schema(result, generator, request, public):
    """POSTPROCESSING_HOOK (after drf-spectacular's enum hook): stable enum names, allauth's app endpoints."""
    _rename_component(result, "schemas", "CodeEnum", "ErrorCode")
    _currency_parameters_as_enum_component(result)
    _merge_allauth_app_endpoints(result)
    return result


def _currency_parameters_as_enum_component(spec: dict) -> None:
    """`?currency=` parameters point at the one CurrencyEnum, so clients get one type, not one per operation."""
    component = spec.get("components", {}).get("schemas", {}).get("CurrencyEnum")
    if component is None:
        return
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if sorted(parameter.get("schema", {}).get("enum") or []) == sorted(component["enum"]):
                    parameter["schema"] = {"$ref": "#/components/schemas/CurrencyEnum"}


def _rename_component(spec: dict, kind: str, old: str, new: str) -> None:
    components = spec.get("components", {}).get(kind, {})
    if old not in components:
        return
    components[new] = components.pop(old)
    old_ref, new_ref = f"#/components/{kind}/{old}", f"#/components/{kind}/{new}"

    def walk(node):
        if isinstance(node, dict):
            if node.get("$ref") == old_ref:
                node["$ref"] = new_ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    spec["components"][kind] = dict(sorted(components.items()))


def _allauth_headless_spec() -> dict:
    """allauth's headless specification, as its `get_schema()` builds it, without serving it.

    allauth's own spec pages are off (HEADLESS_SERVE_SPECIFICATION: their viewer loads from
    a CDN), and its `get_schema()` finds the mount point by reversing those pages' URL. The
    shop mounts headless at `/_allauth/`, the root the specification is written for, so the
    same steps run here without that re-rooting.
    """
    from pathlib import Path

    import yaml
    from allauth.headless.spec.internal import schema as allauth_schema

    with open(Path(allauth_schema.__file__).parent.parent / "doc/openapi.yaml", "rb") as f:
        spec = yaml.safe_load(f)
    allauth_schema.specify_user(spec)
    allauth_schema.pin_client(spec)
    allauth_schema.drop_unused_client_parameter(spec)
    used_tags = allauth_schema.drop_unused_paths(spec)
    allauth_schema.drop_unused_tags(spec, used_tags)
    allauth_schema.drop_unused_tag_groups(spec, used_tags)
    allauth_schema.specify_signup_fields(spec)
    allauth_schema.specify_custom_signup_form(spec)
    return spec


def _merge_allauth_app_endpoints(spec: dict) -> None:
    """Copy AUTH_OPERATIONS from allauth's headless specification, for the `app` client."""
    auth_spec = _allauth_headless_spec()
    paths = {}
    for (path, method), operation_id in AUTH_OPERATIONS.items():
        operation = copy.deepcopy(auth_spec["paths"][path][method])
        operation["parameters"] = [
            parameter
            for parameter in operation.get("parameters", [])
            if parameter.get("$ref") != "#/components/parameters/Client"
        ]
        if not operation["parameters"]:
            del operation["parameters"]
        operation["operationId"] = operation_id
        operation["tags"] = [AUTH_TAG]
        operation["summary"] = operation.get("summary", "").strip()
        operation.pop("security", None)  # no scheme: the session token is the operation's own header
        _add_examples(operation, AUTH_EXAMPLES.get(operation_id, {}), auth_spec)
        paths.setdefault(path.replace("{client}", "app"), {})[method] = operation
    components = spec.setdefault("components", {})
    for kind, name in sorted(_referenced_components(paths, auth_spec)):
        target = components.setdefault(kind, {})
        if name in target and target[name] != auth_spec["components"][kind][name]:
            warn(f"allauth component {kind}/{name} collides with the shop's own")
        target[name] = auth_spec["components"][kind][name]
    _login_by_this_shops_methods(components["schemas"])
    spec["paths"].update(paths)
    tags = spec.setdefault("tags", [])
    if not any(tag["name"] == AUTH_TAG for tag in tags):
        tags.append(
            {
                "name": AUTH_TAG,
                "description": "Sign up, verify the e-mail, log in and out with allauth's headless API "
                "(`app` client): the answer's `meta.session_token` goes in the X-Session-Token header.",
            }
        )


def _add_examples(operation: dict, examples: dict, auth_spec: dict) -> None:
    """Put `examples` on the operation's request body ("request") and answers (by status), inlined."""

    def inlined(node: dict) -> dict:
        match = _REF.match(node.get("$ref", ""))
        return copy.deepcopy(auth_spec["components"][match[1]][match[2]]) if match else node

    for key, value in examples.items():
        if key == "request":
            target = operation["requestBody"] = inlined(operation["requestBody"])
            target["required"] = True  # allauth needs the body (verify: the code) even where its spec says not
        else:
            target = operation["responses"][key] = inlined(operation["responses"][key])
        target["content"]["application/json"]["examples"] = {"example": {"value": value}}


def _login_by_this_shops_methods(schemas: dict) -> None:
    """allauth's Login offers every login method as anyOf, which generators drop: name this shop's."""
    from allauth.account import app_settings as account_settings

    methods = [method for method in ("email", "username", "phone") if method in account_settings.LOGIN_METHODS]
    if "Login" not in schemas or not methods:
        return
    properties = {method: {"$ref": f"#/components/schemas/{method.title()}"} for method in methods}
    properties["password"] = {"$ref": "#/components/schemas/Password"}
    schemas["Login"] = {
        "type": "object",
        "description": "Log in with the password and " + " or ".join(methods) + ".",
        "properties": properties,
        "required": [*methods, "password"] if len(methods) == 1 else ["password"],
    }


def _referenced_components(node, auth_spec: dict, seen: set | None = None) -> set[tuple[str, str]]:
    """Every (kind, name) of allauth's components that `node` refers to, transitively."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        match = _REF.match(node.get("$ref", "")) if isinstance(node.get("$ref"), str) else None
        if match and match.groups() not in seen:
            seen.add(match.groups())
            kind, name = match.groups()
            _referenced_components(auth_spec["components"][kind][name], auth_spec, seen)
        for value in node.values():
            _referenced_components(value, auth_spec, seen)
    elif isinstance(node, list):
        for value in node:
            _referenced_components(value, auth_spec, seen)
    return seen
