"""Real concurrent transactions on PostgreSQL: no overdraft, one wallet per currency."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from djmoney.money import Money

from payments import selectors
from payments.exceptions import InsufficientFunds, WalletExists
from payments.models import Wallet, Withdrawal
from payments.psp_sandbox.models import SandboxPayout
from payments.services import payouts, sweep, wallets
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_funded_by_card, wallet_with_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(count, target):
    """Run `target(i)` in `count` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _settle_open_withdrawals(rounds: int = 5) -> None:
    """Run the retry job until no payout is left processing (each round as if its time had come)."""
    for _round in range(rounds):
        if not Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING).exists():
            return
        Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING).update(
            next_retry_at=timezone.now() - timedelta(seconds=1)
        )
        sweep.payment_retry_stuck()


def test_twenty_concurrent_withdrawals_of_10_from_100_exactly_10_succeed(psp, settings):
    # Twenty payouts at once on two cores: give the provider time to answer under load. A payout
    # that still loses its answer stays processing (never guessed) and the retry job settles it.
    settings.PAYMENT_READ_TIMEOUT = 15.0
    wallet = wallet_funded_by_card(VerifiedUserFactory(), "100.00", card_token="tok_ok")

    def withdraw(_i):
        return payouts.wallet_withdraw(wallet_id=wallet.pk, amount=Money("10.00", "USD"), card_token="tok_ok")

    results = run_at_once(20, withdraw)
    accepted = [r for r in results if isinstance(r, Withdrawal)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(accepted) == 10, results
    assert len(refused) == 10, results
    _settle_open_withdrawals()
    assert Withdrawal.objects.filter(status=Withdrawal.Status.SUCCEEDED).count() == 10
    assert Withdrawal.objects.count() == 10
    assert SandboxPayout.objects.filter(status="succeeded").count() == 10
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("0.00")
    assert selectors.account_balance(account=wallet.account) == Decimal("0.00")
    assert selectors.wallets_with_wrong_cached_balance() == []
    assert not selectors.ledger_unbalanced_transactions().exists()


def test_concurrent_spends_never_overdraw():
    wallet = wallet_with_balance(VerifiedUserFactory(), "100.00")

    def spend(i):
        return wallets.wallet_debit(wallet_id=wallet.pk, amount=Money("7.00", "USD"), reference=f"order-{i}")

    results = run_at_once(20, spend)
    assert sum(1 for r in results if isinstance(r, InsufficientFunds)) == 6
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("2.00")
    assert selectors.wallets_with_wrong_cached_balance() == []


def test_two_requests_racing_to_open_a_wallet_get_one():
    user = VerifiedUserFactory()

    def open_wallet(_i):
        return wallets.wallet_open(user=user, currency="GBP")

    results = run_at_once(6, open_wallet)
    assert sum(1 for r in results if isinstance(r, Wallet)) == 1, results
    assert sum(1 for r in results if isinstance(r, WalletExists)) == 5, results
    assert Wallet.objects.filter(user=user, currency="GBP").count() == 1
