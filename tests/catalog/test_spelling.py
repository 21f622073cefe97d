"""Forgiving search: typos find products on SQLite as on PostgreSQL, and an empty result
offers the catalogue's spelling."""

import pytest
from django.test import Client

from catalog.selectors.spelling import query_suggestion, similarity, word_nearest
from tests.catalog.factories import make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def audio(rates):
    headphones = make_category("Headphones")
    return [
        make_product(name="Aurora Wireless Headphones", brand="Sonix", category=headphones),
        make_product(name="Nimbus Keyboard", brand="Acme", category=make_category("Keyboards")),
    ]


def test_similarity_is_pg_trgm_like():
    assert similarity("headphones", "headphones") == 1
    assert similarity("hedphone", "headphones") > 0.35 > similarity("hedphone", "keyboard")


def test_nearest_word_and_suggestion(audio):
    assert word_nearest("hedphone") == "headphones"
    assert word_nearest("keybord") == "keyboard"
    assert word_nearest("xyzzy") == ""
    assert query_suggestion("wireless hedphone") == "wireless headphones"
    assert query_suggestion("wireless headphones") == ""


def test_a_typo_finds_the_product_on_the_search_page(audio):
    html = Client().get("/search/", {"q": "hedphone"}).content.decode()
    assert "Aurora Wireless Headphones" in html
    assert "Nimbus Keyboard" not in html


def test_empty_result_says_did_you_mean(audio):
    # A typo, but filtered to nothing: the page offers the spelling it knows.
    html = Client().get("/search/", {"q": "hedphone", "max_price": "0.01"}).content.decode()
    assert "Did you mean" in html and "?q=headphones" in html
    assert "Did you mean" not in Client().get("/search/", {"q": "zzzzqqq"}).content.decode()
