"""/api/ answers JSON for 404, 405 and 500, whatever DEBUG is."""

import pytest
from django.test import Client
from django.urls import include, path


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/v1/boom/", _boom), path("", include("shop.urls"))]


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG=0", "DEBUG=1"])
def test_unknown_api_paths_are_json_404(client, settings, debug):
    settings.DEBUG = debug
    for url in ("/api/v1/nothing-here/", "/api/v2/", "/api/"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG=0", "DEBUG=1"])
def test_a_wrong_method_is_json_405(client, settings, debug):
    settings.DEBUG = debug
    response = client.delete("/api/v1/products/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG=0", "DEBUG=1"])
def test_a_crash_under_api_is_json_500(client, settings, debug):
    settings.DEBUG = debug
    settings.ROOT_URLCONF = __name__
    response = client.get("/api/v1/boom/")
    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "detail": "Server error."}


@pytest.mark.django_db
def test_pages_keep_their_html_404(client, settings):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_allauths_cdn_backed_specification_page_is_not_served(client):
    """Its viewer loads from a CDN: blank offline and refused by the CSP, so it is switched off."""
    assert client.get("/_allauth/openapi.html").status_code == 404
    assert client.get("/_allauth/openapi.json").status_code == 404
