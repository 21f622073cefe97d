"""Forgiving search: typos find products on SQLite as on PostgreSQL, and an empty result
offers the catalogue's spelling."""

import pytest
from django.core.cache import cache
from django.test import Client

from catalog.cache import catalog_cache_invalidate
from catalog.selectors.spelling import product_vocabulary, query_suggestion, similarity, word_nearest
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


def test_the_vocabulary_is_read_once_per_catalogue_version(
    audio, django_assert_num_queries, django_capture_on_commit_callbacks
):
    assert "headphones" in product_vocabulary()
    with django_assert_num_queries(0):  # the process keeps it: no query, and no large cache read to unpickle
        assert "headphones" in product_vocabulary()
    make_product(name="Tundra Lantern", category=make_category("Camping"))
    assert "lantern" not in product_vocabulary()  # same catalogue version: the words it read
    with django_capture_on_commit_callbacks(execute=True):
        catalog_cache_invalidate()  # what the catalogue's services do after commit
    assert "lantern" in product_vocabulary()
    assert query_suggestion("lanturn") == "lantern"


def test_a_flushed_cache_is_not_mistaken_for_the_words_this_process_kept(audio):
    assert "lantern" not in product_vocabulary()
    make_product(name="Tundra Lantern", category=make_category("Camping"))
    cache.clear()  # the catalogue version starts again at 1, the key of the words kept in memory
    assert "lantern" in product_vocabulary()
