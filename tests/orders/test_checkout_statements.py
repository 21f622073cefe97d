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
