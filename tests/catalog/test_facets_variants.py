"""Facets over variants: price bands and price filters read a variant's own price (else the product's),
option counts (size, colour) are right on filtered searches too, and attr= filters on them."""

from decimal import Decimal

import pytest
from django.db import connection
from djmoney.money import Money

from catalog.selectors.filters import ProductQuery
from catalog.selectors.search import product_search
from catalog.services.facets import facet_counts_refresh_for_products
from tests.catalog.factories import make_apparel, make_category, make_product

pytestmark = pytest.mark.django_db


def _bands(facets) -> dict[str, int]:
    return {str(band["min"]): band["count"] for band in facets["price"] if band["count"]}


def _options(facets, name) -> dict[str, int]:
    return {v["value"]: v["count"] for f in facets["attributes"] if f["name"] == name for v in f["values"]}


@pytest.fixture
def shirts(rates, django_capture_on_commit_callbacks):
    category = make_category("Shirts")
    with django_capture_on_commit_callbacks(execute=True):
        # Product price 60 (band 50-100); its variants cost 20 (own price) and 60 (inherited).
        tee, tee_variants = make_apparel(
            category=category, name="Linen Shirt", price="60.00", sizes=("M", "L"), colours=("Red",),
            stock={("M", "Red"): 2},
        )
        cheap = tee_variants[("M", "Red")]
        cheap.price = Money("20.00", "USD")
        cheap.save()  # as the admin saves it: the stored "from" price follows
        facet_counts_refresh_for_products(product_ids=[tee.pk])
        polo, _ = make_apparel(
            category=category, name="Linen Polo", price="30.00", sizes=("L",), colours=("Blue",), stock={("L", "Blue"): 1}
        )
        plain = make_product(category=category, name="Linen Scarf", price="120.00")
    return {"tee": tee, "polo": polo, "plain": plain, "category": category}


@pytest.mark.parametrize("q", ["", "linen"])  # browsing (stored counts) and a search (counted)
def test_price_bands_use_the_lowest_variant_price(shirts, q):
    facets = product_search(ProductQuery(q=q, category=shirts["category"])).facets
    # The tee counts where its 20.00 variant is (0-25), not at its product price of 60.
    assert _bands(facets) == {"0": 1, "25": 1, "100": 1}


def test_price_filter_finds_a_product_by_its_variant_price(shirts):
    found = product_search(ProductQuery(category=shirts["category"], max_price=Decimal("25"))).products
    assert [p.pk for p in found] == [shirts["tee"].pk]
    found = product_search(ProductQuery(q="linen", min_price=Decimal("50"), max_price=Decimal("99"))).products
    assert found == []  # nothing starts in 50-100: the tee's lowest price is 20
    result = product_search(ProductQuery(q="linen", min_price=Decimal("0"), max_price=Decimal("24.99")))
    assert [p.pk for p in result.products] == [shirts["tee"].pk] and result.count == sum(_bands(result.facets).values())


def test_option_counts_are_right_on_a_filtered_search(shirts):
    facets = product_search(ProductQuery(q="linen")).facets
    assert _options(facets, "size") == {"M": 1, "L": 2}
    assert _options(facets, "colour") == {"Red": 1, "Blue": 1}
    # Only in-stock variants count when asked for stock: the tee's L is sold out.
    facets = product_search(ProductQuery(q="linen", in_stock=True)).facets
    assert _options(facets, "size") == {"M": 1, "L": 1}
    # With a filter beyond the words (a price), still counted over the variants.
    facets = product_search(ProductQuery(q="linen", max_price=Decimal("50"))).facets
    assert _options(facets, "size") == {"M": 1, "L": 2}


def test_attr_filter_on_options_in_a_filtered_search(shirts):
    found = product_search(ProductQuery(q="linen", attributes={"size": ["M"]}))
    assert [p.pk for p in found.products] == [shirts["tee"].pk]
    assert _options(found.facets, "size") == {"M": 1, "L": 1}  # the tee's sizes (a facet of the matches)
    found = product_search(ProductQuery(q="linen", attributes={"size": ["L"]}, in_stock=True))
    assert [p.pk for p in found.products] == [shirts["polo"].pk]  # the tee's L is sold out


def test_filtered_facets_api_answers_with_option_counts(client, shirts):
    body = client.get("/api/v1/products/", {"q": "linen", "attr": "colour:Blue"}).json()
    assert [item["id"] for item in body["results"]] == [shirts["polo"].pk]
    assert _options(body["facets"], "colour") == {"Blue": 1}


def test_search_queries_stay_fixed_with_variants(shirts, django_assert_max_num_queries):
    # Facets and page of a filtered search: a fixed number of queries whatever the matches.
    from django.core.cache import cache

    cache.clear()
    limit = 12 if connection.vendor == "postgresql" else 16
    with django_assert_max_num_queries(limit):
        product_search(ProductQuery(q="linen", max_price=Decimal("200"), page_size=50))
