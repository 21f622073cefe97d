import pytest

from tests.orders.fixtures import rates  # noqa: F401
from tests.payments.fixtures import psp  # noqa: F401
from tests.payments.sandbox_fixtures import stub_server  # noqa: F401


@pytest.fixture
def provider(psp, settings):  # noqa: F811
    """The sandbox over HTTP with a generous read timeout: these tests want answers, not timeouts."""
    settings.PAYMENT_READ_TIMEOUT = 10.0
    return psp
