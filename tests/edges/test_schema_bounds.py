"""The schema says what the server does: page bounds, currency enum, the amount pattern, the cart's 409."""

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from shop.core.money import amount_pattern
from tests.orders.factories import make_product, shopper_new


@pytest.fixture(scope="module")
def spec():
    return SchemaGenerator().get_schema(request=None, public=True)


def _parameter(spec, path, method, name):
    return next(p for p in spec["paths"][path][method]["parameters"] if p["name"] == name)["schema"]


def test_page_and_page_size_carry_the_bounds_the_server_enforces(spec):
    for path in ("/api/v1/orders/", "/api/v1/addresses/", "/api/v1/wallets/{wallet_id}/transactions/"):
        assert _parameter(spec, path, "get", "page")["minimum"] == 1
        assert _parameter(spec, path, "get", "page_size") | {"type": "integer"} == {
            "type": "integer", "minimum": 1, "maximum": 100,
        }


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["page=0", "page=-3", "page_size=0", "page_size=101", "page_size=null", "page_size=２"])
def test_out_of_bounds_pages_are_400_naming_the_parameter(query):
    client = APIClient()
    client.force_authenticate(shopper_new())
    response = client.get(f"/api/v1/orders/?{query}")
    assert response.status_code == 400
    assert response.json()["field"] == query.split("=")[0]


def test_request_amounts_are_positive_by_pattern_and_currencies_an_enum(spec):
    assert spec["components"]["schemas"]["MoneyMovementInput"]["properties"]["amount"] == {
        "$ref": "#/components/schemas/MoneyAmount"
    }
    money = spec["components"]["schemas"]["MoneyAmount"]
    currency = money["properties"]["currency"]
    if "$ref" in currency:  # the one CurrencyEnum component
        currency = spec["components"]["schemas"][currency["$ref"].rsplit("/", 1)[1]]
    assert currency["enum"] == ["USD", "EUR", "GBP"]
    assert money["additionalProperties"] is False
    assert money["properties"]["amount"]["pattern"] == amount_pattern(2)  # what amount_parse takes


def test_the_api_takes_json_bodies_only(spec):
    assert list(spec["paths"]["/api/v1/addresses/"]["post"]["requestBody"]["content"]) == ["application/json"]


@pytest.mark.django_db
def test_a_form_encoded_body_is_415():
    client = Client()
    client.force_login(shopper_new())
    response = client.post("/api/v1/cart/lines/", {"product": 1, "quantity": 1})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_cart_lines_answer_the_documented_409_when_stock_is_short(spec):
    for method in ("post",):
        assert "409" in spec["paths"]["/api/v1/cart/lines/"][method]["responses"]
    assert "409" in spec["paths"]["/api/v1/cart/lines/{line_id}/"]["patch"]["responses"]
    product = make_product(price="5.00", on_hand=2)
    client = APIClient()
    client.force_authenticate(shopper_new())
    response = client.post("/api/v1/cart/lines/", {"product": product.pk, "quantity": 3}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
