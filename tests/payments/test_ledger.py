"""The double-entry ledger: balanced, reference-unique, append-only, guarded wallet balances."""

import socket
import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from djmoney.money import Money

from payments import selectors
from payments.exceptions import (
    InsufficientFunds,
    InvalidAmount,
    InvalidCardToken,
    LedgerReferenceConflict,
    UnbalancedTransaction,
    WalletClosed,
)
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Withdrawal
from payments.services import charges, ledger, payouts, sweep, wallets
from payments.services.ledger import Leg
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def _accounts():
    clearing = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency="USD")
    revenue = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD")
    return clearing, revenue


def test_system_accounts_are_one_per_purpose_and_currency():
    first = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD")
    again = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD")
    eur = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="EUR")
    assert first.pk == again.pk
    assert eur.pk != first.pk
    assert LedgerAccount.objects.filter(user=None, purpose=LedgerAccount.Purpose.SHOP_REVENUE).count() == 2


def test_posting_the_same_reference_twice_posts_once():
    clearing, revenue = _accounts()
    legs = [Leg(clearing, usd("-5.00")), Leg(revenue, usd("5.00"))]
    tx, created = ledger.ledger_post(reference="ref-1", kind="adjustment", legs=legs)
    again, created_again = ledger.ledger_post(reference="ref-1", kind="adjustment", legs=legs)
    assert created and not created_again
    assert tx.pk == again.pk
    assert LedgerEntry.objects.filter(transaction=tx).count() == 2
    assert selectors.account_balance(account=revenue) == Decimal("5.00")


def test_posting_a_reference_again_with_other_legs_raises_instead_of_replaying():
    clearing, revenue = _accounts()
    refunds = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.REFUNDS_PAYABLE, currency="USD")
    eur_clearing = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency="EUR")
    eur_revenue = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="EUR")
    ledger.ledger_post(
        reference="ref-2", kind="adjustment", legs=[Leg(clearing, usd("-5.00")), Leg(revenue, usd("5.00"))]
    )
    other_legs = [
        [Leg(clearing, usd("-6.00")), Leg(revenue, usd("6.00"))],  # another amount
        [Leg(clearing, usd("-5.00")), Leg(refunds, usd("5.00"))],  # another account
        [Leg(revenue, usd("-5.00")), Leg(clearing, usd("5.00"))],  # the other direction
        [Leg(eur_clearing, Money(Decimal("-5.00"), "EUR")), Leg(eur_revenue, Money(Decimal("5.00"), "EUR"))],
        [Leg(clearing, usd("-5.00")), Leg(revenue, usd("2.00")), Leg(revenue, usd("3.00"))],  # split legs
    ]
    for legs in other_legs:
        with pytest.raises(LedgerReferenceConflict):
            ledger.ledger_post(reference="ref-2", kind="adjustment", legs=legs)
    # The same legs in another order are the same posting.
    again, created = ledger.ledger_post(
        reference="ref-2", kind="adjustment", legs=[Leg(revenue, usd("5.00")), Leg(clearing, usd("-5.00"))]
    )
    assert not created
    assert LedgerEntry.objects.filter(transaction=again).count() == 2
    assert selectors.account_balance(account=revenue) == Decimal("5.00")


def test_unbalanced_transaction_is_refused_and_writes_nothing():
    clearing, revenue = _accounts()
    with pytest.raises(UnbalancedTransaction):
        ledger.ledger_post(
            reference="bad", kind="adjustment", legs=[Leg(clearing, usd("-5.00")), Leg(revenue, usd("4.99"))]
        )
    with pytest.raises(UnbalancedTransaction):
        ledger.ledger_post(reference="bad", kind="adjustment", legs=[])
    assert not LedgerTransaction.objects.filter(reference="bad").exists()


def test_mixed_currencies_must_balance_per_currency():
    clearing, revenue = _accounts()
    eur_revenue = ledger.ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="EUR")
    with pytest.raises(UnbalancedTransaction):
        ledger.ledger_post(
            reference="fx",
            kind="adjustment",
            legs=[Leg(clearing, usd("-5.00")), Leg(eur_revenue, Money(Decimal("5.00"), "EUR"))],
        )
    assert not LedgerEntry.objects.exists()


def test_wallet_debit_is_guarded_and_keeps_cache_equal_to_entries():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "30.00")
    wallets.wallet_debit(wallet_id=wallet.pk, amount=usd("20.00"), reference="order-1")
    with pytest.raises(InsufficientFunds):
        wallets.wallet_debit(wallet_id=wallet.pk, amount=usd("10.01"), reference="order-2")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10.00")
    assert selectors.account_balance(account=wallet.account) == wallet.balance
    assert not LedgerTransaction.objects.filter(reference="order-2").exists()
    wallets.wallet_credit(wallet_id=wallet.pk, amount=usd("5.00"), reference="refund-1")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("15.00")
    assert selectors.wallets_with_wrong_cached_balance() == []
    assert not selectors.ledger_unbalanced_transactions().exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_an_unbalanced_transaction_at_commit():
    clearing, revenue = _accounts()
    with pytest.raises(DatabaseError, match="unbalanced"):
        with transaction.atomic():
            tx = LedgerTransaction.objects.create(reference="raw", kind="adjustment")
            LedgerEntry.objects.create(transaction=tx, account=revenue, amount=Decimal("3.00"), currency="USD")
    assert not LedgerTransaction.objects.filter(reference="raw").exists()
    # A balanced raw insert is accepted: the trigger checks the sum, not who wrote it.
    with transaction.atomic():
        tx = LedgerTransaction.objects.create(reference="raw-ok", kind="adjustment")
        LedgerEntry.objects.create(transaction=tx, account=revenue, amount=Decimal("3.00"), currency="USD")
        LedgerEntry.objects.create(transaction=tx, account=clearing, amount=Decimal("-3.00"), currency="USD")
    assert LedgerEntry.objects.filter(transaction__reference="raw-ok").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_update_and_delete_of_entries():
    clearing, revenue = _accounts()
    tx, _ = ledger.ledger_post(
        reference="r", kind="adjustment", legs=[Leg(clearing, usd("-1.00")), Leg(revenue, usd("1.00"))]
    )
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            LedgerEntry.objects.filter(transaction=tx).update(amount=Decimal("2.00"))
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM payments_ledgerentry")
    assert LedgerEntry.objects.filter(transaction=tx).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_update_and_delete_of_transactions():
    clearing, revenue = _accounts()
    tx, _ = ledger.ledger_post(
        reference="t", kind="adjustment", legs=[Leg(clearing, usd("-1.00")), Leg(revenue, usd("1.00"))]
    )
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            LedgerTransaction.objects.filter(pk=tx.pk).update(description="rewritten", reference="t-2")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Refused at once by the trigger, not only at commit by the entries' deferred foreign key.
                cursor.execute("DELETE FROM payments_ledgertransaction WHERE id = %s", [tx.pk])
    tx.refresh_from_db()
    assert (tx.reference, tx.description) == ("t", "")
    assert LedgerEntry.objects.filter(transaction=tx).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_of_one_reference_post_once():
    clearing, revenue = _accounts()
    barrier = threading.Barrier(8)
    results = []

    def post():
        try:
            barrier.wait()
            _tx, created = ledger.ledger_post(
                reference="same", kind="adjustment", legs=[Leg(clearing, usd("-1.00")), Leg(revenue, usd("1.00"))]
            )
            results.append(created)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert LedgerEntry.objects.filter(transaction__reference="same").count() == 2


def test_over_precise_legs_are_refused():
    clearing, revenue = _accounts()
    with pytest.raises(InvalidAmount):
        ledger.ledger_post(
            reference="precise", kind="adjustment", legs=[Leg(clearing, usd("-0.005")), Leg(revenue, usd("0.005"))]
        )
    assert not LedgerTransaction.objects.exists()


def test_wallet_and_payment_services_refuse_a_card_number_before_writing_anything():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    before = LedgerTransaction.objects.count()
    for token in ("4242424242424242", 42, None, ""):
        with pytest.raises(InvalidCardToken):
            wallets.wallet_deposit(wallet_id=wallet.pk, amount=usd("5.00"), card_token=token, user=user)
        with pytest.raises(InvalidCardToken):
            payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("5.00"), card_token=token, user=user)
        with pytest.raises(InvalidCardToken):
            charges.payment_create(
                user=user, purpose="order", reference="O-1", amount=usd("5.00"), method="card", card_token=token
            )
    assert not Payment.objects.exists()
    assert not Withdrawal.objects.exists()
    assert LedgerTransaction.objects.count() == before
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10.00")
    # A wallet payment needs no card token.
    charges.payment_create(user=user, purpose="order", reference="O-2", amount=usd("5.00"), method="wallet")


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.django_db(transaction=True)
def test_a_wallet_with_a_deposit_or_withdrawal_in_flight_cannot_be_closed(psp, settings):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    funding = wallets.wallet_deposit(wallet_id=wallet.pk, amount=usd("30.00"), card_token="tok_ok", user=user)
    assert funding.status == Payment.Status.SUCCEEDED
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{_closed_port()}/"  # the provider is unreachable
    withdrawal = payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("30.00"), card_token="tok_ok", user=user)
    assert withdrawal.status == Withdrawal.Status.PROCESSING
    wallet.refresh_from_db()
    assert wallet.balance == 0  # debited, but the payout may still be reversed into it
    with pytest.raises(WalletClosed) as refused:
        wallets.wallet_close(wallet_id=wallet.pk)
    assert refused.value.code == "wallet_has_pending_payments"
    assert refused.value.status_code == 409
    settings.PAYMENT_GATEWAY_URL = psp
    assert payouts.withdrawal_retry(withdrawal_id=withdrawal.pk).status == Withdrawal.Status.SUCCEEDED
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{_closed_port()}/"
    pending = wallets.wallet_deposit(wallet_id=wallet.pk, amount=usd("5.00"), card_token="tok_ok", user=user)
    assert pending.status == Payment.Status.PROCESSING
    with pytest.raises(WalletClosed) as refused:
        wallets.wallet_close(wallet_id=wallet.pk)
    assert refused.value.code == "wallet_has_pending_payments"
    wallet.refresh_from_db()
    assert wallet.is_open
    # Settled and emptied, the wallet closes.
    settings.PAYMENT_GATEWAY_URL = psp
    assert sweep.payment_retry(payment_id=pending.pk).status == Payment.Status.SUCCEEDED
    payouts.wallet_withdraw(wallet_id=wallet.pk, amount=usd("5.00"), card_token="tok_ok", user=user)
    assert wallets.wallet_close(wallet_id=wallet.pk).status == "closed"
    with pytest.raises(WalletClosed):
        wallets.wallet_deposit(wallet_id=wallet.pk, amount=usd("5.00"), card_token="tok_ok", user=user)
