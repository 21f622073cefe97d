"""Fixtures of the hardened-edges tests: the API fuzz run's funded shopper, and the sandbox provider."""

from tests.api.conftest import shopper_world  # noqa: F401  (re-exported fixtures)
from tests.payments.fixtures import psp  # noqa: F401
