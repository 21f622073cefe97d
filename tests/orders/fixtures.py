"""Fixtures shared by tests/cart, tests/orders and tests/flows (import them in a conftest)."""

import pytest
from rest_framework.test import APIClient

from catalog.services.prices import exchange_rates_load
from tests.orders.factories import make_product, shopper_new


@pytest.fixture
def rates(db):
    """Exchange rates from the repository file (USD base)."""
    exchange_rates_load()


@pytest.fixture
def shopper(db):
    """A verified shopper with 100.00 USD in the wallet and a default address."""
    return shopper_new()


@pytest.fixture
def product(db):
    """10.00 USD, 10 units on hand."""
    return make_product(price="10.00", on_hand=10)


@pytest.fixture
def api(shopper):
    client = APIClient()
    client.force_authenticate(shopper)
    return client


@pytest.fixture
def checkout_limit_per_day(settings):
    """The checkout limit (10) over a day: a one-minute window could roll over mid-test and reset it."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "checkout": "10/day"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
