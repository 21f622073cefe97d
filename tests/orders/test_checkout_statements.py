"""The wallet checkout's statement budget (issue 19: no more than 15 % over the 46 of 2026-11-30).

`make bench` counts the same checkout as production runs it (52 statements on
2026-12-07 in the morning, with BEGIN and COMMIT); inside a test's transaction
the count differs by the savepoints that stand in for those, so the budget here
is the same checkout counted by this harness. A change that adds a statement to
every wallet order fails here first.

The product and the shipping method are committed (their after-commit callbacks
run), as in production: the pricing rules then come from the cache. The budget
went from 54 to 49 when they did, and to 39 once the checkout marked its own
order paid and answered from what its transaction wrote.
"""

import pytest

from catalog.models import Stock
from tests.orders.factories import cart_fill, make_product
from tests.orders.test_api import checkout, wallet_body

pytestmark = pytest.mark.django_db

WALLET_CHECKOUT_STATEMENTS = 39


def test_a_one_line_wallet_checkout_stays_within_its_statement_budget(
    api, shopper, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = make_product(price="1.00")
        wallet_body(shopper)  # makes the shipping method
    cart_fill(shopper, (product, 1))
    assert checkout(api, wallet_body(shopper)).status_code == 201  # the first warms the per-process caches
    cart_fill(shopper, (product, 1))
    body = wallet_body(shopper)
    with django_assert_max_num_queries(WALLET_CHECKOUT_STATEMENTS):
        response = checkout(api, body)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "paid"


# A flash sale answers hundreds of late buyers: the refusal reads the key, the order token, the cart and
# its variants' stock, and forgets the key; not the products, not the address (9 in this harness on
# 2026-12-07; before, the address was read first, and an unknown one was a 400 even for a sold-out cart).
SOLD_OUT_STATEMENTS = 9


def test_a_sold_out_refusal_reads_neither_the_products_nor_the_address(
    api, shopper, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = make_product(price="1.00", on_hand=1)
        wallet_body(shopper)
    cart_fill(shopper, (product, 1))
    Stock.objects.filter(product=product).update(on_hand=0)
    body = {**wallet_body(shopper), "shipping_address": 999999}  # unknown: never read
    assert checkout(api, body).status_code == 409  # the first finds the alternatives (then cached a while)
    with django_assert_max_num_queries(SOLD_OUT_STATEMENTS):
        response = checkout(api, body)
    assert response.status_code == 409, response.content
    assert response.json()["lines"] == [{"variant": product.variants.get().pk, "requested": 1, "available": 0}]
