"""Reusable payments fixtures and helpers; other test folders import them:

    from tests.payments.fixtures import psp, verified_user, funded_wallet  # noqa: F401

`psp` serves the project (with the sandbox provider) on pytest-django's
`live_server`, points the gateway at it with a 1 s read timeout (tok_timeout
answers after 2 s) and switches the sandbox's own webhooks off, so tests
deliver events themselves. It needs a transactional database.
"""

from decimal import Decimal

import pytest
from djmoney.money import Money
from rest_framework.test import APIClient

from payments.models import LedgerTransaction, Payment, Wallet
from payments.services import wallets
from tests.payments.factories import UserFactory, VerifiedUserFactory

READ_TIMEOUT = 1.0


@pytest.fixture
def psp(live_server, settings, transactional_db):
    """The sandbox provider over real HTTP; returns its base URL."""
    settings.PAYMENT_GATEWAY_URL = live_server.url + "/psp-sandbox/"
    settings.PAYMENT_CONNECT_TIMEOUT = 1.0
    settings.PAYMENT_READ_TIMEOUT = READ_TIMEOUT
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
    return settings.PAYMENT_GATEWAY_URL


@pytest.fixture
def verified_user(db):
    return VerifiedUserFactory()


@pytest.fixture
def unverified_user(db):
    return UserFactory()


@pytest.fixture
def api_client():
    return APIClient()


def wallet_with_balance(user, amount: str = "0", currency: str = "USD") -> Wallet:
    """Open the user's wallet and, if `amount` > 0, post a deposit for it through the ledger."""
    wallet = Wallet.objects.filter(user=user, currency=currency).first() or wallets.wallet_open(
        user=user, currency=currency
    )
    if Decimal(amount) > 0:
        count = LedgerTransaction.objects.count()
        wallets.wallet_demo_credit(
            wallet_id=wallet.pk, amount=Money(Decimal(amount), currency), reference=f"test-funding-{wallet.pk}-{count}"
        )
    wallet.refresh_from_db()
    return wallet


def wallet_funded_by_card(user, amount: str, card_token: str = "tok_ok", currency: str = "USD") -> Wallet:
    """Open the user's wallet and top it up by card through the sandbox (needs `psp`).

    Withdrawals go back only to a card that funded the wallet, so tests that
    withdraw fund the wallet this way (a ledger-only credit funds no card).
    """
    wallet = wallet_with_balance(user, "0", currency)
    payment = wallets.wallet_deposit(
        wallet_id=wallet.pk, amount=Money(Decimal(amount), currency), card_token=card_token, user=user
    )
    assert payment.status == Payment.Status.SUCCEEDED, (payment.status, payment.last_error_code)
    wallet.refresh_from_db()
    return wallet


@pytest.fixture
def funded_wallet(verified_user):
    """A USD wallet holding 100.00."""
    return wallet_with_balance(verified_user, "100.00")
