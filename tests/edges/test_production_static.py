"""With DEBUG=0 the pages render once static files are collected (what `make serve` does first)."""

import pytest
from django.core.management import call_command
from django.test import Client

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.fixture
def production(settings, tmp_path):
    """DEBUG=0 with whitenoise's manifest storage over an empty STATIC_ROOT of its own."""
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = MANIFEST_STORAGES
    settings.SECURE_SSL_REDIRECT = False
    return settings


@pytest.mark.django_db
def test_pages_are_500_before_collectstatic_and_render_after_it(production):
    assert Client(raise_request_exception=False).get("/accounts/login/").status_code == 500

    call_command("collectstatic", interactive=False, verbosity=0)

    client = Client()  # a new handler: whitenoise reads STATIC_ROOT when its middleware starts
    for url in ("/", "/accounts/login/", "/cart/", "/search/?q=x"):
        response = client.get(url)
        assert response.status_code == 200, url
    html = client.get("/").content.decode()
    stylesheet = html.split('href="/static/css/shop.', 1)[1].split('"', 1)[0]
    assert stylesheet != "css" and stylesheet.endswith(".css")  # the hashed name from the manifest
    served = client.get(f"/static/css/shop.{stylesheet}")
    assert served.status_code == 200
    assert "max-age" in served["Cache-Control"]
