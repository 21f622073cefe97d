"""The OpenAPI schema is a contract a client generator can live with, for every operation.

Generic on purpose: a new endpoint fails here until it has an explicit
operationId, tags, a description, examples, JSON-only required bodies and
documented error answers.
"""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.test import Client

from shop.core.exceptions import error_code_values
from tests.orders.factories import make_product, shopper_new

JSON = "application/json"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    """The schema from `manage.py spectacular --fail-on-warn --validate` (a warning is an error)."""
    out = io.StringIO()
    with django_db_blocker.unblock():
        call_command("spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = schema["components"][kind][name]
    return node


def _has_examples(schema, content) -> bool:
    """Whether the content has an example: its JSON one, or that of its only other type (a PDF download)."""
    content = content or {}
    media = content.get(JSON) or (next(iter(content.values())) if len(content) == 1 else {})
    return bool(media.get("examples") or media.get("example"))


def test_every_operation_has_a_chosen_id_tags_a_description_and_examples(schema):
    problems, seen = [], set()
    for name, operation in _operations(schema):
        operation_id = operation.get("operationId", "")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", operation_id) or operation_id in seen:
            problems.append(f"{name}: operationId {operation_id!r} missing, malformed or repeated")
        seen.add(operation_id)
        if not operation.get("tags"):
            problems.append(f"{name}: no tags")
        if not (operation.get("description") or "").strip():
            problems.append(f"{name}: no description")
        responses = {status: _resolve(schema, response) for status, response in operation["responses"].items()}
        body = _resolve(schema, operation.get("requestBody"))
        if body and not _has_examples(schema, body["content"]):
            problems.append(f"{name}: the request body has no example")
        success = [r for status, r in responses.items() if status.startswith("2") and r.get("content")]
        if success and not any(_has_examples(schema, r["content"]) for r in success):
            problems.append(f"{name}: no example of a successful answer")
        if not body and not success and not any(_has_examples(schema, r.get("content")) for r in responses.values()):
            problems.append(f"{name}: no example at all")
    assert not problems, "\n".join(problems)


def test_request_bodies_are_json_only_and_required(schema):
    problems = []
    for name, operation in _operations(schema):
        body = _resolve(schema, operation.get("requestBody"))
        if body is None:
            continue
        if list(body["content"]) != [JSON]:
            problems.append(f"{name}: offers {sorted(body['content'])}")
        if body.get("required") is not True:
            problems.append(f"{name}: request body not required")
    assert not problems, "\n".join(problems)


def test_shop_errors_are_documented_with_the_error_code_enum(schema):
    code = schema["components"]["schemas"]["Error"]["properties"]["code"]
    assert code["allOf"] == [{"$ref": "#/components/schemas/ErrorCode"}]
    assert _resolve(schema, code["allOf"][0])["enum"] == error_code_values()
    problems = []
    for name, operation in _operations(schema):
        if not name.split()[1].startswith("/api/v1/"):
            continue
        statuses = set(operation["responses"])
        for status in ("400", "429"):
            if status not in statuses:
                problems.append(f"{name}: {status} undocumented")
        if "requestBody" in operation and "415" not in statuses:
            problems.append(f"{name}: 415 undocumented")
        for status, response in operation["responses"].items():
            if status >= "400" and response["content"][JSON]["schema"] != {"$ref": "#/components/schemas/Error"}:
                problems.append(f"{name}: {status} is not an Error body")
            if status in ("402", "409") and "Codes: `" not in response["description"]:
                problems.append(f"{name}: {status} does not name its codes")
    assert not problems, "\n".join(problems)


def test_components_are_named_after_what_they_describe_and_parameters_are_bounded(schema):
    names = list(schema["components"]["schemas"])
    assert not [n for n in names if re.search(r"(Request|Output|Serializer)$", n)], names
    for name, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            parameter = _resolve(schema, parameter)
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                assert parameter["schema"]["minimum"] == 1, (name, parameter)
            if parameter["name"] == "currency":
                assert _resolve(schema, parameter["schema"])["enum"], (name, parameter)
            if parameter["name"] in ("page", "page_size"):
                assert parameter["schema"]["minimum"] == 1, (name, parameter)


def test_allauth_app_endpoints_are_in_the_same_schema(schema):
    operation_ids = {op["operationId"]: name for name, op in _operations(schema)}
    for operation_id in ("auth_signup", "auth_email_verify", "auth_login", "auth_session", "auth_logout"):
        assert operation_ids[operation_id].split()[1].startswith("/_allauth/app/v1/auth/")
    login = schema["components"]["schemas"]["Login"]
    assert set(login["required"]) == {"email", "password"}


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_form_body_to_the_api_is_415_with_the_error_body(content_type):
    shopper = shopper_new()
    product = make_product()
    client = Client()
    client.force_login(shopper)
    body = f"product={product.pk}&quantity=1" if "urlencoded" in content_type else "--x--\r\n"
    response = client.post("/api/v1/cart/lines/", data=body, content_type=content_type)
    assert response.status_code == 415, response.content
    assert response.json()["code"] == "unsupported_media_type"
    assert response.json()["detail"]
