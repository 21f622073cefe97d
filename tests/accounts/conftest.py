import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD, AddressFactory, UserFactory


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory(email="ann@example.com")


@pytest.fixture
def other_user(db):
    return UserFactory(email="bob@example.com")


@pytest.fixture
def other_address(other_user):
    return AddressFactory(user=other_user, is_default_shipping=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def api_client(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def last_code():
    """The verification code of the newest e-mail in the outbox."""

    def read():
        assert mail.outbox, "no e-mail was sent"
        match = re.search(r"where you signed up\.\s+(\S+)", mail.outbox[-1].body)
        assert match, mail.outbox[-1].body
        return match.group(1)

    return read
