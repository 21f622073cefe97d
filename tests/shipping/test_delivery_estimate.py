"""The product page's delivery estimate: the cheapest method serving the shopper's country (their default
address, else settings.SHOP_DEFAULT_COUNTRY), a faster one beside it, and no method said plainly."""

import re

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Address
from catalog.services.prices import exchange_rates_load
from shop.shipping.selectors import delivery_estimate
from tests.catalog.factories import UserFactory, make_product
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def methods(db):
    exchange_rates_load()
    germany, france = ZoneFactory(countries=["DE"]), ZoneFactory(countries=["FR"])
    standard = MethodFactory(name="Standard", zones=[germany], min_delivery_days=2, max_delivery_days=4)
    express = MethodFactory(name="Express", zones=[germany], min_delivery_days=1, max_delivery_days=1)
    france_only = MethodFactory(name="France", zones=[france], min_delivery_days=3, max_delivery_days=6)
    for method, price in ((standard, "4.99"), (express, "14.90"), (france_only, "9.99")):
        for currency in ("USD", "EUR"):
            price_add(method, currency, price)
    return {"standard": standard, "express": express}


def _sentence(html: str) -> str:
    found = re.search(r"<p class=\"delivery-estimate\"[^>]*>(.*?)</p>", html, re.S)
    assert found, "no delivery estimate on the page"
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_visitors_see_the_shops_default_country_by_the_cheapest_method(methods, settings):
    settings.SHOP_DEFAULT_COUNTRY = "DE"
    product = make_product()
    html = Client().get(product.get_absolute_url()).content.decode()
    assert _sentence(html) == "Delivered in 2-4 working days to Germany · express in 1 working day"


def test_a_signed_in_shopper_sees_their_default_address_country(methods, settings):
    settings.SHOP_DEFAULT_COUNTRY = "DE"
    shopper = UserFactory()
    Address.objects.create(user=shopper, full_name="A B", line1="1 Rue", city="Paris", postal_code="75001",
                           country="FR", is_default_shipping=True)
    client = Client()
    client.force_login(shopper)
    html = client.get(make_product().get_absolute_url()).content.decode()
    assert _sentence(html) == "Delivered in 3-6 working days to France"


def test_a_country_without_a_method_is_told_so(methods, settings):
    settings.SHOP_DEFAULT_COUNTRY = "JP"
    html = Client().get(make_product().get_absolute_url()).content.decode()
    assert _sentence(html) == "No delivery to Japan yet."


def test_the_estimate_is_cached_per_country_and_currency(methods, django_assert_num_queries):
    assert delivery_estimate(country="de", currency="USD").max_days == 4
    with django_assert_num_queries(0):
        assert delivery_estimate(country="DE", currency="USD").fast_max_days == 1
    assert delivery_estimate(country="JP", currency="USD") is None
    with django_assert_num_queries(0):
        assert delivery_estimate(country="JP", currency="USD") is None


def test_product_page_queries_stay_constant_with_the_estimate(methods, django_assert_max_num_queries):
    """A second anonymous view is served whole from the cache, estimate included."""
    product = make_product()
    client = Client()
    client.get(product.get_absolute_url())
    with django_assert_max_num_queries(0):
        assert "Delivered in" in client.get(product.get_absolute_url()).content.decode()
    cache.clear()
    shopper = Client()
    shopper.force_login(UserFactory())
    with django_assert_max_num_queries(25):
        assert shopper.get(product.get_absolute_url()).status_code == 200
