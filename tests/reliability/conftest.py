"""Fault and concurrency suite: the shop's invariants under crashes, races and a misbehaving provider.

Helpers (child processes on the test database, threads released together,
the invariant checks) live in tests/reliability/helpers.py.
"""

import pytest

from tests.payments.sandbox_fixtures import psp  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def _fast_passwords_quiet_mail(settings):
    """Hundreds of shoppers: a cheap hasher; e-mails to memory; webhooks delivered by the tests themselves."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
