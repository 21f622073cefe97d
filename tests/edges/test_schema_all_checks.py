"""Schemathesis over the whole API with every check, positive and negative data.

The shop's one fuzz run (it replaced tests/api/test_fuzz.py, whose three checks are among these).
The schema must say what the server does: no 5xx, every status documented,
every body and header as described, invalid data (per the schema) refused
with a 4xx, valid data accepted. Operations whose outcome depends on state
the fuzzer cannot see (STATE_DEPENDENT) skip only `positive_data_acceptance`.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from shop.wsgi import application

# The shop's own operations. allauth's sign-in operations, merged into the same schema, are run
# by the generated client's journey against a live server (tests/client_gen): in-process, allauth
# sees no client address and refuses login with an HTML 403.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(path_regex=r"^/api/v1/")
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

KNOWN: dict[str, object] = {}

# Valid by the schema and still refused, for reasons in data the schema cannot describe.
STATE_DEPENDENT = {
    # Each needs an Idempotency-Key not used before with another body, a wallet or cart in a
    # given state (balance, currency, open), and stock: a schema-valid request may be 402/409/400.
    "POST /api/v1/wallets/{wallet_id}/deposits/": "amount over the deposit limit, currency of another wallet",
    "POST /api/v1/wallets/{wallet_id}/withdrawals/": "balance, and cards that funded the wallet",
    "POST /api/v1/orders/": "the cart's contents and stock, the wallet balance",
    "POST /api/v1/wallets/": "one wallet per currency: the second is 409 wallet_exists",
    "POST /api/v1/cart/lines/": "the variant must exist and be in stock (409 out_of_stock)",
    "POST /api/v1/cart/voucher/": "the code must be a live voucher the cart reaches the minimum of (400 voucher_*)",
    "POST /api/v1/cart/gift-cards/": "the code must be a live gift card's secret (400 gift_card_invalid), within the "
    "wrong-code limit (429)",
    "PATCH /api/v1/cart/lines/{line_id}/": "stock of the line's variant",
    "POST /api/v1/orders/{number}/cancel/": "only an unpaid order can be cancelled (409)",
    "POST /api/v1/orders/{number}/returns/": "only a delivered order's lines can be returned",
    "POST /api/v1/products/{slug}/reviews/": "only buyers may review, once (403/409)",
    "GET /api/v1/products/": "`category` must name an existing category (400 otherwise)",
    "DELETE /api/v1/me/": "needs the account's real password (and a right one would erase the account)",
    "POST /api/v1/addresses/": "the postal code must fit the country (a pattern per country: 400 invalid_address)",
    "PUT /api/v1/addresses/{id}/": "the postal code must fit the country (a pattern per country: 400 invalid_address)",
    "PATCH /api/v1/addresses/{id}/": "the postal code must fit the country (a pattern per country: 400 "
    "invalid_address)",
}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    real = {name: KNOWN[name] for name in path_parameters or {} if name in KNOWN}
    if not real:
        return st.just(path_parameters)
    return st.sampled_from([{**path_parameters, **real}, path_parameters])


@pytest.fixture(autouse=True)
def _keep_test_connection(shopper_world):
    """The WSGI handler would close the test's connection (inside its transaction) around each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _known_objects(shopper_world):
    KNOWN.update(shopper_world["path_parameters"])
    yield
    KNOWN.clear()


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_passes_every_schemathesis_check(case, shopper_world):
    headers = {"X-Session-Token": shopper_world["token"]}
    response = case.call(headers=headers)
    excluded = [positive_data_acceptance] if case.operation.label in STATE_DEPENDENT else []
    case.validate_response(response, headers=headers, excluded_checks=excluded)
