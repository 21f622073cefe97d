"""Erasure keeps the books: the nightly reconciliation is clean before and after it (sandbox over HTTP)."""

from datetime import UTC
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from accounts.models import ErasureRequest
from catalog.services.reviews import review_create
from payments.models import LedgerEntry, LedgerTransaction, Payment, ReconciliationRun, Wallet
from payments.reconciliation.runs import reconciliation_run
from payments.services.payouts import wallet_withdraw
from payments.services.wallets import wallet_deposit
from tests.accounts.factories import PASSWORD
from tests.orders.fixtures import rates  # noqa: F401
from tests.payments.fixtures import psp  # noqa: F401
from tests.reconciliation import helpers


def today():
    return timezone.now().astimezone(UTC).date()


@pytest.fixture
def provider(psp, settings):  # noqa: F811
    settings.PAYMENT_READ_TIMEOUT = 10.0
    return psp


def _clean(run: ReconciliationRun) -> None:
    assert run.status == ReconciliationRun.Status.CLEAN, list(run.items.values("kind", "object_id", "detail"))


def test_reconciliation_is_clean_before_and_after_an_erasure(provider, rates):  # noqa: F811
    data = helpers.clean_day()
    user = data["user"]
    wallet = Wallet.objects.get(user=user)
    wallet_deposit(wallet_id=wallet.pk, amount=Money("10.00", "USD"), card_token="tok_ok", user=user)
    review_create(user=user, product=data["products"][0], rating=5)
    _clean(reconciliation_run(day=today()))
    api = APIClient()
    api.force_authenticate(user)

    refused = api.delete("/api/v1/me/", {"password": PASSWORD}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "wallet_not_empty"

    wallet.refresh_from_db()
    assert wallet.balance == Decimal("90.00")
    withdrawal = wallet_withdraw(wallet_id=wallet.pk, amount=Money(wallet.balance, "USD"), card_token="tok_ok",
                                 user=user)
    assert withdrawal.status == "succeeded"
    counts = (Payment.objects.count(), LedgerTransaction.objects.count(), LedgerEntry.objects.count())

    done = api.delete("/api/v1/me/", {"password": PASSWORD}, format="json")

    assert done.status_code == 204
    assert (Payment.objects.count(), LedgerTransaction.objects.count(), LedgerEntry.objects.count()) == counts
    assert list(ErasureRequest.objects.filter(user=user).values_list("status", flat=True).order_by("id")) == [
        "refused", "done"]
    run = reconciliation_run(day=today())
    _clean(run)
    assert run.checked["orders"] == 2 and run.checked["ledger_entries"] > 0
