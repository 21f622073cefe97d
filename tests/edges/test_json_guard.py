"""Bodies no parser can choke on: deep or broken JSON is a 400 on the API and allauth's headless API, never a 500."""

import json

import pytest
from django.test import Client

from shop.core.json_guard import JSON_MAX_DEPTH, json_body_problem, json_depth_exceeds

DEEP = ("[" * 1000 + "]" * 1000).encode()  # 2 KB, ~1,000 levels


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth_exceeds(b"[" * (JSON_MAX_DEPTH + 1) + b"]" * (JSON_MAX_DEPTH + 1))
    assert not json_depth_exceeds(b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH)
    assert not json_depth_exceeds(json.dumps({"a": "[" * 500, "b": '\\"[[[' * 100}).encode())
    assert json_body_problem(json.dumps({"a": "[{" * 500}).encode()) is None


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"a": ' + b"1" * 5000 + b"}", b"\xff\xfe{", b'{"email": "a@b.c",'],
    ids=["1000 levels", "integer past Python's digit limit", "not UTF-8", "cut short"],
)
def test_unparsable_bodies_are_named(body):
    assert json_body_problem(body)


def _endpoints(world):
    wallet = world["path_parameters"]["wallet_id"]
    return [
        ("patch", "/api/v1/me/"),
        ("post", "/api/v1/cart/lines/"),
        ("post", "/api/v1/addresses/"),
        ("post", f"/api/v1/wallets/{wallet}/deposits/"),
        ("post", "/api/v1/orders/"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG=0", "DEBUG=1"])
def test_a_1000_level_body_is_a_json_400_on_every_api_endpoint(shopper_world, settings, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False, HTTP_X_SESSION_TOKEN=shopper_world["token"])
    for method, url in _endpoints(shopper_world):
        response = getattr(client, method)(url, data=DEEP, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 400, (url, response.content[:200])
        assert response.json()["code"] == "parse_error", url


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG=0", "DEBUG=1"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
@pytest.mark.parametrize("body", [DEEP, b'{"email": ' + b"1" * 5000 + b"}"], ids=["deep", "huge integer"])
def test_anonymous_headless_login_refuses_unparsable_json_with_400(settings, debug, content_type, body):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).post(
        "/_allauth/app/v1/auth/login", data=body, content_type=content_type
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "invalid"


@pytest.mark.django_db
def test_ordinary_json_still_reaches_the_views(shopper_world):
    client = Client(HTTP_X_SESSION_TOKEN=shopper_world["token"])
    response = client.patch("/api/v1/me/", data={"full_name": "[Ada] {Lovelace}"}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "[Ada] {Lovelace}"
