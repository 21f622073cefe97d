"""Full-text search and typo-tolerant autocomplete on PostgreSQL."""

import pytest
from django.test import Client

from catalog.models import Product
from catalog.selectors.filters import ProductQuery
from catalog.selectors.search import product_autocomplete, product_search
from catalog.services.categories import category_update
from catalog.services.products import product_update
from tests.catalog.factories import make_category, make_product

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def products(rates):
    audio = make_category("Audio")
    kitchen = make_category("Kitchen")
    return {
        "name": make_product(category=audio, name="Studio Headphones", brand="Sonic", description="Closed back."),
        "desc": make_product(
            category=audio, name="Cable Organiser", brand="Tidy", description="Keeps your headphones cable neat."
        ),
        "brand": make_product(category=kitchen, name="Espresso Machine", brand="Barista", description="Pumps."),
        "other": make_product(category=kitchen, name="Kettle", brand="Boil", description="Boils water fast."),
    }


def names(q, **kw):
    return [p.name for p in product_search(ProductQuery(q=q, **kw)).products]


def test_search_vector_is_stored_for_new_products(products):
    assert not Product.objects.filter(search_vector__isnull=True).exists()


def test_name_matches_rank_above_description_matches(products):
    assert names("headphones") == ["Studio Headphones", "Cable Organiser"]


def test_brand_and_category_words_match(products):
    assert names("barista") == ["Espresso Machine"]
    assert set(names("kitchen")) == {"Espresso Machine", "Kettle"}


def test_stemming_and_websearch_syntax(products):
    assert names("boiling") == ["Kettle"]  # stemmed: boil
    assert names("headphones -cable") == ["Studio Headphones"]
    assert names('"closed back"') == ["Studio Headphones"]
    assert names("headphones OR kettle", ordering="name") == ["Cable Organiser", "Kettle", "Studio Headphones"]


def test_search_vector_follows_product_and_category_changes(products):
    product_update(product=products["other"], name="Travel Kettle", description="Folds flat.")
    assert names("travel") == ["Travel Kettle"]
    assert names("water") == []
    category = products["brand"].category
    category_update(category=category, name="Coffee Corner")
    assert set(names("coffee")) == {"Espresso Machine", "Travel Kettle"}


def test_hostile_terms_are_plain_text(products):
    client = Client()
    for term in ["'; DROP TABLE catalog_product; --", "a & | ! b", "(((", ":*", '"unbalanced']:
        response = client.get("/api/v1/products/", {"search": term})
        assert response.status_code == 200
    assert Product.objects.count() == 4


def test_autocomplete_tolerates_typos(products):
    assert [p.name for p in product_autocomplete(q="headphnes")] == ["Studio Headphones"]
    assert [p.name for p in product_autocomplete(q="espreso")] == ["Espresso Machine"]
    assert product_autocomplete(q="zzzzzz") == []
    body = Client().get("/api/v1/products/autocomplete/", {"q": "ketle"}).json()
    assert [r["name"] for r in body["results"]] == ["Kettle"]
