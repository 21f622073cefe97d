"""Shared API plumbing: pagination, the JSON error shape, money fields.

Every app's api.py speaks one dialect: input serializers `XxxInput`, output
serializers `XxxOutput` (plain Serializers with explicit fields), DRF views
`XxxApi`; a view validates with `XxxInput(data=...).is_valid(raise_exception=True)`,
calls one service or selector, and answers with `XxxOutput(...).data`.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from shop.core.exceptions import CoreErrorCode, ShopError, error_code_enums, error_code_values
from shop.core.money import AmountInvalid, amount_parse, amount_pattern, minor_unit_places, money_to_dict


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request, paginator):
        """The page asked for; anything but a whole number from 1 is a 400 naming `page` (past the end: 404)."""
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw == "":
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1:
            raise exceptions.ValidationError(
                {self.page_query_param: [_("A page number is a whole number from 1.")]}, code=CoreErrorCode.INVALID
            )
        return number

    def get_page_size(self, request):
        """`page_size` from 1 to max_page_size; anything else is a 400 naming it (DRF would ignore it)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            message = _("A page size is a whole number from 1 to %(max)s.") % {"max": self.max_page_size}
            raise exceptions.ValidationError({self.page_size_query_param: [message]}, code=CoreErrorCode.INVALID)
        return int(raw)

    def get_schema_operation_parameters(self, view):
        """DRF's `page` and `page_size`, with the bounds the server enforces."""
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: {"minimum": 1}, self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class StrictCharField(serializers.CharField):
    """A string given as a JSON string: refuses numbers and booleans, which DRF's CharField turns into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: refuses 0, 1, "yes" and the other spellings DRF's BooleanField takes."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def body_require(request) -> None:
    """A 400 when the request has no body at all (an update whose fields are all optional).

    The schema marks every request body required; `{}` is a body (it changes nothing),
    an absent one is a client mistake. Call before touching `request.data`.
    """
    if not request.body:
        raise serializers.ValidationError({"non_field_errors": [_("Send a JSON body.")]})


def _first_field_error(detail):
    """(field, message) of the first validation error, for a flat error body."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_field_error(value)
            if key == "non_field_errors":
                return field, message
            return (key if field is None else f"{key}.{field}"), message
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0])
    return None, str(detail)


def exception_handler(exc, context):
    """Every API error is JSON: {"code", "detail"} (+ "field", "errors" for 400s)."""
    if isinstance(exc, ShopError):
        return Response(exc.as_dict(), status=exc.status_code, headers=exc.response_headers())
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_field_error(exc.detail)
        body = {"code": str(CoreErrorCode.INVALID), "detail": message, "errors": exc.detail}
        if field:
            body["field"] = field
        response.data = body
        return response
    if isinstance(exc, exceptions.Throttled):
        response.data = {
            "code": str(CoreErrorCode.THROTTLED),
            "detail": str(_("Too many requests. Please wait a moment and try again.")),
            "retry_after": exc.wait,
        }
        return response
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    response.data = {"code": str(_drf_error_code(exc)), "detail": str(detail)}
    return response


def _drf_error_code(exc) -> CoreErrorCode:
    """The CoreErrorCode of a DRF exception's code ("not_authenticated", "parse_error", ...); else ERROR."""
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(codes, str) and codes in CoreErrorCode.values:
        return CoreErrorCode(codes)
    return CoreErrorCode.ERROR


class MoneyField(serializers.Field):
    """Money as {"amount": "12.50", "currency": "USD"}; amount a string, never a float.

    As input, the amount is read by `amount_parse` (the rule the pages use
    too): positive, ASCII digits, at most the currency's minor-unit places;
    the schema publishes the same rule as its pattern. `max_amount` caps it.
    """

    default_error_messages = {
        "invalid": _("Money must be an object with 'amount' (a decimal string) and 'currency'."),
        "currency": _("Unknown currency: {currency}."),
        "max": _("The amount is too large."),
    }

    def __init__(self, *, max_amount: Decimal | None = None, **kwargs):
        self.max_amount = max_amount
        super().__init__(**kwargs)

    def to_representation(self, value):
        return money_to_dict(value)

    def to_internal_value(self, data):
        if not isinstance(data, dict) or set(data) != {"amount", "currency"}:
            self.fail("invalid")
        currency = data["currency"]
        if not isinstance(currency, str) or currency not in settings.CURRENCIES:
            self.fail("currency", currency=currency)
        if not isinstance(data["amount"], str):
            self.fail("invalid")
        try:
            amount = amount_parse(data["amount"], currency)
        except AmountInvalid as exc:
            raise serializers.ValidationError(str(exc.message), code=CoreErrorCode.INVALID)
        if self.max_amount is not None and amount > self.max_amount:
            self.fail("max")
        return Money(amount, currency)


# drf-spectacular: document MoneyField as an object.
try:
    from drf_spectacular.extensions import OpenApiSerializerFieldExtension
    from drf_spectacular.plumbing import ResolvedComponent, build_basic_type, build_object_type
    from drf_spectacular.types import OpenApiTypes

    class MoneyFieldExtension(OpenApiSerializerFieldExtension):
        target_class = "shop.core.api.MoneyField"

        def map_serializer_field(self, auto_schema, direction):
            # One component per direction, so generated clients have one Money type each:
            # `Money` in answers (may be negative: statement entries), `MoneyAmount` in
            # request bodies (what amount_parse takes: positive, the currency's places).
            if direction == "request":
                # With currencies of different minor units, the widest.
                places = max(minor_unit_places(currency) for currency in settings.CURRENCIES)
                name, pattern = "MoneyAmount", amount_pattern(places)
                description = "An amount to move: a positive decimal string and an ISO 4217 currency."
            else:
                name, pattern = "Money", r"^-?[0-9]+(\.[0-9]+)?$"
                description = "An amount of money: a decimal string and an ISO 4217 currency."
            schema = build_object_type(
                properties={
                    "amount": {**build_basic_type(OpenApiTypes.STR), "pattern": pattern},
                    "currency": {"type": "string", "enum": list(settings.CURRENCIES)},
                },
                required=["amount", "currency"],
                description=description,
            )
            if direction == "request":
                schema["additionalProperties"] = False  # to_internal_value refuses other keys
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
            auto_schema.registry.register_on_missing(component)
            return component.ref
    class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
        target_class = "shop.core.api.StrictCharField"

        def map_serializer_field(self, auto_schema, direction):
            schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
            if direction == "request":
                # DRF refuses NUL characters, and (trimming) a value that is only whitespace.
                blank_ok = self.target.allow_blank or not self.target.trim_whitespace
                schema["pattern"] = r"^[^\u0000]*$" if blank_ok else r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
            return schema
except ImportError:  # pragma: no cover
    pass


def _error_code_choices() -> list[tuple[str, str]]:
    """(code, label) of every registered machine code, sorted by code."""
    labels = {member.value: member.label for enum in error_code_enums() for member in enum}
    return [(code, labels[code]) for code in error_code_values()]


class ErrorSerializer(serializers.Serializer):
    """The body of every API error (documentation only): a machine code and a human detail."""

    code = serializers.ChoiceField(choices=[], help_text="The machine code: one of every registered error code.")
    detail = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The input field at fault (400s).")
    errors = serializers.JSONField(required=False, help_text="Every validation error, by field (400s).")

    def get_fields(self):
        # The codes are read when the schema is generated, once every app has registered its enum.
        fields = super().get_fields()
        fields["code"] = serializers.ChoiceField(choices=_error_code_choices(), help_text=fields["code"].help_text)
        return fields


def paginated(serializer_class, *, name: str | None = None, **extra_fields):
    """A serializer documenting one page of `serializer_class` (count, next, previous, results).

    For the OpenAPI schema of views that paginate by hand; `extra_fields` are
    further top-level keys of the page (e.g. facets).
    """
    fields = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
        **extra_fields,
    }
    base = serializer_class.__name__.removesuffix("Serializer").removesuffix("Output")
    # `paginated_by` tells shop.core.schema to document the page and page_size parameters.
    return type(name or f"Paginated{base}List", (serializers.Serializer,), {**fields, "paginated_by": Pagination})
