"""A Content-Security-Policy on every page, and no inline script or style left that would need 'unsafe-inline'."""

import re

import pytest
from django.test import Client
from django.urls import include, path

from shop.core.csp import style_hashes
from tests.accounts.factories import UserFactory
from tests.orders.factories import cart_fill, make_product, shopper_new

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _inline_code(html: str) -> list[str]:
    return [f"{name}: {match.group(0)}" for pattern, name in INLINE for match in pattern.finditer(html)]


@pytest.fixture
def shop_pages(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = shopper_new(funds="50.00")
    product = make_product(price="10.00", on_hand=5)
    cart_fill(user, (product, 1))
    wallet = user.wallets.first()
    signed_in = Client()
    signed_in.force_login(user)
    anonymous = [
        "/", product.get_absolute_url(), "/search/?q=a", "/cart/", "/accounts/login/", "/accounts/signup/",
        "/accounts/password/reset/",
    ]
    mine = [
        "/cart/", "/account/", "/account/addresses/", "/account/addresses/new/", "/wallet/", "/orders/checkout/",
        f"/wallet/{wallet.pk}/deposit/", f"/wallet/{wallet.pk}/statement/", "/orders/", product.get_absolute_url(),
    ]
    return [(Client(), url) for url in anonymous] + [(signed_in, url) for url in mine]


def test_every_storefront_page_has_a_strict_policy_and_no_inline_code(shop_pages):
    for client, url in shop_pages:
        response = client.get(url)
        assert response.status_code == 200, url
        directives = _directives(response)
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["default-src"] == ["'self'"] and directives["object-src"] == ["'none'"], url
        assert _inline_code(response.content.decode()) == [], url


@pytest.mark.django_db
def test_admin_may_inline_styles_but_never_scripts():
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    for url in ("/admin/", "/admin/payments/payment/", "/admin/catalog/product/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        directives = _directives(response)
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"], url
        html = response.content.decode()
        assert not INLINE[0][0].search(html), (url, INLINE[0][0].search(html))


@pytest.mark.django_db
def test_the_api_docs_load_swagger_ui_without_inline_script():
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    assert _directives(response)["script-src"] == ["'self'"]
    assert not INLINE[0][0].search(response.content.decode())


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _boom), path("", include("shop.urls"))]
handler500 = "shop.views.server_error"


@pytest.mark.django_db
def test_the_500_page_allows_exactly_its_own_style_by_hash(settings):
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    hashes = style_hashes(response.content.decode())
    assert len(hashes) == 1
    assert _directives(response)["style-src"] == ["'self'", *hashes]
    assert _directives(response)["script-src"] == ["'self'"]
