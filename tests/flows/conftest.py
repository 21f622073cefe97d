from tests.orders.fixtures import api, checkout_limit_per_day, product, rates, shopper  # noqa: F401
from tests.payments.fixtures import psp  # noqa: F401
