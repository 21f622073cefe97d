import pytest

from catalog.services.prices import exchange_rates_load


@pytest.fixture
def rates(db):
    """Exchange rates from the repository file (USD base: EUR 0.92, GBP 0.79)."""
    exchange_rates_load()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
