"""The OpenAPI schema publishes every machine error code as the enum of the error body's `code`."""

import pytest
from rest_framework import exceptions

from shop.core.api import exception_handler
from shop.core.exceptions import CoreErrorCode, error_code_values


def _component(schema: dict, ref_or_schema: dict) -> dict:
    """The schema a property points at, following one $ref (directly or inside allOf)."""
    ref = ref_or_schema.get("$ref") or next(
        (part["$ref"] for part in ref_or_schema.get("allOf", []) if "$ref" in part), None
    )
    if ref is None:
        return ref_or_schema
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


@pytest.mark.django_db
def test_schema_documents_the_error_code_as_the_enum_of_every_machine_code(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    code = _component(schema, schema["components"]["schemas"]["Error"]["properties"]["code"])
    assert code["enum"] == error_code_values()


@pytest.mark.parametrize(
    "exc",
    [
        exceptions.ParseError(),
        exceptions.NotAuthenticated(),
        exceptions.AuthenticationFailed(),
        exceptions.PermissionDenied(),
        exceptions.NotFound(),
        exceptions.MethodNotAllowed("TRACE"),
        exceptions.NotAcceptable(),
        exceptions.UnsupportedMediaType("text/csv"),
        exceptions.APIException(),
        exceptions.APIException("odd", code="not_a_registered_code"),
    ],
)
def test_every_code_the_exception_handler_answers_with_is_a_core_error_code(exc):
    response = exception_handler(exc, {})
    assert response.data["code"] in CoreErrorCode.values
