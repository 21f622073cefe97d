from tests.orders.fixtures import api, product, rates, shopper  # noqa: F401
from tests.payments.fixtures import psp  # noqa: F401
