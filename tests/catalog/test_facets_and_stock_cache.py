"""Facet counts stay exact through product, stock and rate changes; a stock change re-renders only what shows it."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import FacetCount
from catalog.selectors.facets import _band_bounds, _facets_from_products, product_facets
from catalog.selectors.filters import ProductQuery, products_filtered
from catalog.services.facets import facet_counts_rebuild
from catalog.services.products import product_set_active, product_update
from catalog.services.stock import stock_adjust, stock_release, stock_reserve, stock_restock
from tests.catalog.factories import make_category, make_product


def _v(product):
    """The product's default variant id (what stock lines name)."""
    return product.variants.get(is_default=True).pk


pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(rates):
    root = make_category("Home")
    kitchen = make_category("Kitchen", parent=root)
    garden = make_category("Garden", parent=root)
    products = [
        make_product(category=kitchen, brand="Acme", price="9.99", on_hand=2, attributes={"colour": "red"}),
        make_product(category=kitchen, brand="Acme", price="30.00", on_hand=0, attributes={"colour": "blue"}),
        make_product(category=kitchen, brand="Boil", price="120.00", on_hand=5),
        make_product(category=garden, brand="Acme", price="260.00", on_hand=1, attributes={"colour": "red"}),
        make_product(category=garden, brand="", price="55.00", on_hand=3),
    ]
    return {"root": root, "kitchen": kitchen, "garden": garden, "products": products}


def _both_ways(query: ProductQuery) -> tuple[dict, dict]:
    """Facets from the FacetCount table, and counted over the products themselves."""
    summary = product_facets(query)
    qs, _ranked = products_filtered(query)
    totals, by_category, by_brand = _facets_from_products(qs, _band_bounds(query.currency))
    return summary, {
        "total": totals["total"],
        "in_stock": totals["in_stock"],
        "bands": [totals[f"band_{i}"] for i in range(5)],
        "categories": sorted(by_category),
        "brands": sorted((b["brand"], b["count"]) for b in by_brand),
    }


def _assert_summary_is_exact(shelf):
    queries = [ProductQuery()]
    for category in (shelf["root"], shelf["kitchen"], shelf["garden"]):
        for brand in ([], ["Acme"]):
            for in_stock in (None, True, False):
                for currency in ("USD", "EUR", "GBP"):
                    queries.append(ProductQuery(category=category, brand=brand, in_stock=in_stock, currency=currency))
    for query in queries:
        summary, counted = _both_ways(query)
        assert summary["total"] == counted["total"]
        assert summary["in_stock"]["in_stock"] == counted["in_stock"]
        assert [b["count"] for b in summary["price"]] == counted["bands"]
        assert sorted((b["name"], b["count"]) for b in summary["brands"]) == counted["brands"]
        assert sum(c["count"] for c in summary["categories"]) == counted["total"]


def test_facet_counts_match_the_products_after_every_kind_of_change(shelf, django_capture_on_commit_callbacks):
    _assert_summary_is_exact(shelf)
    a, b, c, d, e = shelf["products"]
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=c, brand="Acme", price="24.99", category=shelf["garden"])
        product_set_active(product_ids=[d.pk], is_active=False)
        stock_reserve(lines=[(_v(a), 2)], reference="O-1", expires_at=timezone.now())  # a: out of stock
        stock_restock(product_id=b.pk, quantity=1, reason="delivery")  # b: back in stock
    _assert_summary_is_exact(shelf)
    with django_capture_on_commit_callbacks(execute=True):
        stock_release(reference="O-1")  # a: back in stock
        stock_adjust(product_id=e.pk, delta=-3, reason="broken")  # e: out of stock
    _assert_summary_is_exact(shelf)
    assert product_facets(ProductQuery())["in_stock"] == {"in_stock": 3, "out_of_stock": 1}


def test_rebuild_gives_the_same_rows_as_the_running_counts(shelf):
    before = sorted(FacetCount.objects.values_list("category_id", "brand", "price_min", "in_stock", "count"))
    facet_counts_rebuild()
    assert sorted(FacetCount.objects.values_list("category_id", "brand", "price_min", "in_stock", "count")) == before


def test_attribute_values_are_facets_of_the_current_results(shelf):
    body = Client().get("/api/v1/products/").json()
    assert body["facets"]["attributes"] == [
        {"name": "colour", "values": [{"value": "red", "count": 2}, {"value": "blue", "count": 1}]}
    ]
    body = Client().get("/api/v1/products/", {"category": shelf["garden"].slug}).json()
    assert body["facets"]["attributes"] == [{"name": "colour", "values": [{"value": "red", "count": 1}]}]
    body = Client().get("/api/v1/products/", {"min_price": "20"}).json()  # counted over the products
    assert body["facets"]["attributes"] == [
        {"name": "colour", "values": [{"value": "blue", "count": 1}, {"value": "red", "count": 1}]}
    ]


def test_listing_page_sidebar_has_the_attribute_filter(shelf):
    html = Client().get(shelf["root"].get_absolute_url()).content.decode()
    assert 'name="attr" value="colour:red"' in html and 'name="attr" value="colour:blue"' in html
    html = Client().get(shelf["root"].get_absolute_url(), {"attr": "colour:red"}).content.decode()
    assert 'name="attr" value="colour:red" checked' in html
    assert html.count("product-card") == 2


def test_stock_change_re_renders_only_the_pages_showing_that_product(shelf, django_capture_on_commit_callbacks):
    # b is in another category: a product page also shows similar products of its own category.
    a, b = shelf["products"][0], shelf["products"][4]
    client = Client()
    client.get(a.get_absolute_url())
    client.get(b.get_absolute_url())
    garden = client.get("/api/v1/products/", {"category": shelf["garden"].slug}).json()
    version = client.get("/api/v1/products/", {"category": shelf["kitchen"].slug}).json()
    with django_capture_on_commit_callbacks(execute=True):
        stock_reserve(lines=[(_v(a), 2)], reference="O-2", expires_at=timezone.now())
    # The other product's page and a listing without `a` are still served from the cache.
    with CaptureQueriesContext(connection) as captured:
        assert client.get(b.get_absolute_url()).status_code == 200
        assert client.get("/api/v1/products/", {"category": shelf["garden"].slug}).json() == garden
    assert [q["sql"] for q in captured.captured_queries if "catalog_" in q["sql"]] == []
    # Pages showing `a` show its current stock at once.
    assert b"Out of stock" in client.get(a.get_absolute_url()).content
    fresh = client.get("/api/v1/products/", {"category": shelf["kitchen"].slug}).json()
    assert fresh != version
    assert {r["id"]: r["available"] for r in fresh["results"]}[a.pk] == 0
    assert client.get(f"/api/v1/products/{a.slug}/").json()["available"] == 0


def test_a_product_page_cached_before_a_stock_change_is_not_served_after_it(
    shelf, django_capture_on_commit_callbacks
):
    a = shelf["products"][0]
    client = Client()
    assert b'max="2"' in client.get(a.get_absolute_url()).content  # add-to-cart allows 2
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(product_id=a.pk, delta=3, reason="found")
    assert b'max="5"' in client.get(a.get_absolute_url()).content


@pytest.mark.postgres
def test_attribute_filter_uses_json_containment_on_postgresql(shelf):
    qs, _ranked = products_filtered(ProductQuery(attributes={"colour": ["red"]}))
    assert "@>" in str(qs.query)
    assert {p.pk for p in qs} == {shelf["products"][0].pk, shelf["products"][3].pk}


def test_price_slots_cover_each_band_boundary_of_every_currency(shelf):
    from catalog.selectors.facets import facet_price_slots

    slots = facet_price_slots()
    for currency in ("USD", "EUR", "GBP"):
        for lo, _hi in _band_bounds(currency):
            assert lo in slots
    assert slots[0] == Decimal(0)
