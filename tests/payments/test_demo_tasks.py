"""Demo data and the beat tasks' wiring."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments import demo, selectors
from payments.models import LedgerTransaction, Payment, Wallet
from payments.psp_sandbox.models import SandboxCharge
from payments.tasks import retry_stuck_payments
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance


@pytest.mark.django_db
def test_demo_gives_the_shopper_500_usd_through_the_ledger_and_is_idempotent():
    user = VerifiedUserFactory(email="shopper@example.com")
    out = io.StringIO()
    demo.load(stdout=out)
    demo.load(stdout=out)
    wallet = Wallet.objects.get(user=user, currency="USD")
    assert wallet.balance == Decimal("500.00")
    assert LedgerTransaction.objects.filter(reference=demo.DEMO_REFERENCE).count() == 1
    assert selectors.account_balance(account=wallet.account) == Decimal("500.00")
    assert not selectors.ledger_unbalanced_transactions().exists()


@pytest.mark.django_db
def test_demo_without_the_shopper_says_so():
    out = io.StringIO()
    demo.load(stdout=out)
    assert "accounts.demo" in out.getvalue()
    assert not Wallet.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_retry_task_settles_due_payments(psp):
    wallet = wallet_with_balance(VerifiedUserFactory())
    from djmoney.money import Money

    from payments.services import wallets

    payment = wallets.wallet_deposit(wallet_id=wallet.pk, amount=Money("3.00", "USD"), card_token="tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
    assert retry_stuck_payments.apply(throw=True).result == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
