"""The storefront's frame: brand, favicon, meta description and breadcrumbs on pages, the
footer's flat pages, and "Best rated" as its own list."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from catalog.selectors.recommendations import products_best_rated
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create
from tests.catalog.factories import UserFactory, make_category, make_product

pytestmark = pytest.mark.django_db
FOOTER_PAGES = ["/pages/contact/", "/pages/shipping-returns/", "/pages/privacy/", "/pages/terms/",
                "/pages/legal-notice/"]


def test_every_footer_page_exists_as_a_flat_page():
    html = Client().get("/accounts/login/").content.decode()
    for url in FOOTER_PAGES:
        assert f'href="{url}"' in html
        page = Client().get(url)
        assert page.status_code == 200, url
        assert re.search(r'<meta name="description" content="[^"]{20,}"', page.content.decode()), url


def test_pages_have_brand_favicon_and_a_description(rates):
    for url in ("/", "/cart/", "/accounts/login/", "/search/?q=x"):
        html = Client().get(url).content.decode()
        assert settings.SHOP_NAME in html
        icon = re.search(r'<link rel="icon" href="([^"]+\.svg)"', html).group(1)
        assert (Path(settings.BASE_DIR) / "static" / icon.removeprefix(settings.STATIC_URL)).exists()
        assert re.search(r'<meta name="description" content="[^"]{20,}"', html), url


def test_category_page_has_the_full_breadcrumb_path(rates):
    leaf = make_category("Kettles", parent=make_category("Kitchen", parent=make_category("Home")))
    make_product(category=leaf)
    html = Client().get(leaf.get_absolute_url()).content.decode()
    crumbs = re.findall(r"<li>(?:<a [^>]*>|<span [^>]*>)([^<]+)<", html.split('class="breadcrumbs"')[1])
    assert crumbs[:4] == ["Home", "Home", "Kitchen", "Kettles"]


def test_best_rated_needs_enough_ratings_and_is_not_the_new_arrivals(rates):
    lone, solid, new = make_product(name="Lone"), make_product(name="Solid"), make_product(name="New")
    for i, (product, stars) in enumerate([(lone, 5)] + [(solid, 4)] * 3):
        buyer = UserFactory()
        product_purchase_record(user=buyer, lines=[(product.pk, 1)], reference=f"O-{i}")
        review_create(user=buyer, product=product, rating=stars)
    assert [p.name for p in products_best_rated(min_reviews=3)] == ["Solid"]  # a lone 5 is no proof
    assert products_best_rated(min_reviews=3, exclude_ids={solid.pk}) == []
    assert new.pk not in {p.pk for p in products_best_rated(min_reviews=1)}
