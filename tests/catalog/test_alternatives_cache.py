"""A sold-out variant's alternatives are read once per ALTERNATIVES_TTL: a flash sale's late buyers
(hundreds of 409 out_of_stock answers) do not each search the category again."""

import pytest

from catalog.selectors.variants import variant_alternatives
from catalog.services.products import product_update
from tests.catalog.factories import make_apparel

pytestmark = pytest.mark.django_db


def test_the_second_late_buyer_reads_no_alternatives_from_the_database(django_assert_num_queries):
    _product, variants = make_apparel(stock={("L", "Red"): 5, ("S", "Blue"): 2})
    short = variants[("M", "Red")].pk
    first = variant_alternatives(variant_id=short)
    assert [a["variant"] for a in first] == [variants[("S", "Blue")].pk, variants[("L", "Red")].pk]
    with django_assert_num_queries(0):
        assert variant_alternatives(variant_id=short) == first


def test_a_catalog_change_reads_them_again(django_capture_on_commit_callbacks):
    from catalog.services.stock import stock_restock

    product, variants = make_apparel(stock={})
    short = variants[("M", "Red")].pk
    assert variant_alternatives(variant_id=short) == []  # nothing in stock: none
    stock_restock(variant_id=variants[("L", "Red")].pk, quantity=4, reason="delivery")
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=product, price=product.price.amount + 1)  # bumps the catalog version
    assert [a["variant"] for a in variant_alternatives(variant_id=short)] == [variants[("L", "Red")].pk]
