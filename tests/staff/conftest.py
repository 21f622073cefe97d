import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client

from tests.orders.fixtures import rates  # noqa: F401
from tests.payments.factories import UserFactory
from tests.payments.fixtures import psp  # noqa: F401
from tests.payments.sandbox_fixtures import stub_server  # noqa: F401

_groups = importlib.import_module("payments.migrations.0005_staff_groups")
_order_roles = importlib.import_module("shop.orders.migrations.0002_fulfilment_role")
_finance_perms = importlib.import_module("payments.migrations.0009_reconciliation_screening_staff_perms")


@pytest.fixture
def provider(psp, settings):  # noqa: F811
    settings.PAYMENT_READ_TIMEOUT = 10.0
    return psp


@pytest.fixture
def roles(db):
    """The staff groups as the data migrations make them (again after a table flush)."""
    _groups.create_groups(apps, None)
    _finance_perms.grant_finance(apps, None)
    _order_roles.create_roles(apps, None)
    return {name: Group.objects.get(name=name) for name in ("support", "finance", "fulfilment")}


def _staff(roles, role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(roles[role])
    return user


@pytest.fixture
def support_user(roles):
    return _staff(roles, "support")


@pytest.fixture
def finance_user(roles):
    return _staff(roles, "finance")


@pytest.fixture
def fulfilment_user(roles):
    return _staff(roles, "fulfilment")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def support(support_user):
    return client_for(support_user)


@pytest.fixture
def finance(finance_user):
    return client_for(finance_user)


@pytest.fixture
def fulfilment(fulfilment_user):
    return client_for(fulfilment_user)
