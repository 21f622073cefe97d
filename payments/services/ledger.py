"""The ledger: system accounts and balanced postings, the only writer of entries and wallet balances.

Ledger flows (entry amounts are signed from the account's point of view, see
payments.models: money from A to B is `-x` on A and `+x` on B; every
transaction sums to zero per currency and its reference is unique):

| event                    | from                 | to                                  |
|--------------------------|----------------------|-------------------------------------|
| wallet deposit by card   | provider clearing    | customer wallet                     |
| order paid by wallet     | customer wallet      | shop revenue                        |
| order paid by card       | provider clearing    | shop revenue                        |
| refund to a wallet       | shop revenue         | refunds payable, then the wallet    |
| card refund              | shop revenue         | provider clearing                   |
| withdrawal (payout)      | customer wallet      | provider clearing                   |
| demo / adjustment        | provider clearing    | customer wallet                     |
| gift card issued by staff| gift-card funding    | the card's own account              |
| gift card sold           | shop revenue         | the card's own account              |
| order paid by gift card  | the card's account   | shop revenue                        |
| refund to a gift card    | shop revenue         | the card's account                  |

`ledger_post` is the only code that writes entries and the only code that
changes a wallet's or a gift card's cached `balance`, in the same
transaction, with a guarded UPDATE (`balance >= amount`) for debits so that
concurrent spends can never overdraw.

Lock order: payment row, then wallet rows (through ledger_post). Calls to the
provider are made outside any transaction of ours.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.exceptions import (
    CurrencyMismatch,
    GiftCardInsufficient,
    InsufficientFunds,
    InvalidAmount,
    LedgerReferenceConflict,
    UnbalancedTransaction,
)
from payments.models import (
    GiftCard,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Wallet,
)
from shop.core.money import minor_unit_quantum

logger = logging.getLogger(__name__)


def ledger_system_account(*, purpose: str, currency: str) -> LedgerAccount:
    """The shop's account for `purpose` in `currency`, created on first use."""
    account = LedgerAccount.objects.filter(user=None, purpose=purpose, currency=currency).first()
    if account:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(user=None, purpose=purpose, currency=currency)
    except IntegrityError:
        return LedgerAccount.objects.get(user=None, purpose=purpose, currency=currency)


@dataclass(frozen=True)
class Leg:
    """One side of a posting: `amount` into (positive) or out of (negative) `account`."""

    account: LedgerAccount
    amount: Money


def ledger_post(*, reference: str, kind: str, legs: list[Leg], description: str = "") -> tuple[LedgerTransaction, bool]:
    """Post a balanced transaction once per reference; returns (transaction, created).

    Posting a reference again returns the first posting only if the legs are
    the same (accounts, amounts, currencies); other legs raise
    LedgerReferenceConflict, a programming error that must not be hidden.

    The only writer of ledger entries and of wallets' and gift cards' cached
    balances. A leg that takes money out of a wallet or a gift card is a
    guarded UPDATE (`balance >= amount`): if it matches no row the whole
    posting is undone and InsufficientFunds (GiftCardInsufficient) is raised.
    Takes the wallet and gift-card rows' locks (in account-id order, no deadlocks).
    """
    totals: dict[str, Decimal] = {}
    for leg in legs:
        if leg.amount.amount == 0:
            raise UnbalancedTransaction(_("A ledger leg cannot be zero."))
        if leg.account.currency != leg.amount.currency.code:
            raise CurrencyMismatch()
        if leg.amount.amount != leg.amount.amount.quantize(minor_unit_quantum(leg.amount.currency.code)):
            raise InvalidAmount()
        totals[leg.amount.currency.code] = totals.get(leg.amount.currency.code, Decimal(0)) + leg.amount.amount
    if not legs or any(total != 0 for total in totals.values()):
        raise UnbalancedTransaction()

    with transaction.atomic():
        tx = _ledger_transaction_insert(reference=reference, kind=kind, description=description[:255])
        if tx is None:
            # Posted before, or by a concurrent posting that committed first: that one is it.
            return _ledger_replay(LedgerTransaction.objects.get(reference=reference), legs), False
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(transaction=tx, account=leg.account, amount=leg.amount.amount, currency=leg.amount.currency.code)
                for leg in legs
            ]
        )
        for leg in sorted(legs, key=lambda leg: leg.account.pk):
            _cached_balance_update(leg)
        return tx, True


# Accounts whose owner row caches the balance, and the error when a debit would take it below zero.
_BALANCE_HOLDERS = {
    LedgerAccount.Purpose.CUSTOMER_WALLET: (Wallet, InsufficientFunds),
    LedgerAccount.Purpose.GIFT_CARD: (GiftCard, GiftCardInsufficient),
}


def _cached_balance_update(leg: Leg) -> None:
    """Move a wallet's or gift card's cached balance with the leg; a debit is guarded (`balance >= amount`)."""
    holder = _BALANCE_HOLDERS.get(leg.account.purpose)
    if holder is None:
        return
    model, error = holder
    change = leg.amount.amount
    rows = model.objects.filter(account_id=leg.account.pk)
    if change < 0:
        rows = rows.filter(balance__gte=-change)
    if rows.update(balance=F("balance") + change) != 1:
        raise error()


def _ledger_transaction_insert(*, reference: str, kind: str, description: str) -> LedgerTransaction | None:
    """The new transaction row, or None when its reference is taken: one statement, no savepoint.

    INSERT ... ON CONFLICT DO NOTHING waits for a concurrent posting of the
    same reference and then yields to it (PostgreSQL and SQLite alike).
    """
    created_at = timezone.now()
    table = connection.ops.quote_name(LedgerTransaction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (reference, kind, description, created_at) VALUES (%s, %s, %s, %s) "  # noqa: S608
            "ON CONFLICT (reference) DO NOTHING RETURNING id",
            [reference, kind, description, connection.ops.adapt_datetimefield_value(created_at)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    tx = LedgerTransaction(id=row[0], reference=reference, kind=kind, description=description, created_at=created_at)
    tx._state.adding = False
    tx._state.db = connection.alias
    return tx


def _leg_key(account_id: int, amount: Decimal, currency: str) -> tuple[int, Decimal, str]:
    return (account_id, amount.quantize(minor_unit_quantum(currency)), currency)


def _ledger_replay(tx: LedgerTransaction, legs: list[Leg]) -> LedgerTransaction:
    """The posted transaction, if `legs` are exactly its entries; LedgerReferenceConflict otherwise.

    A reference names one business event: posting it again with other
    accounts, amounts or currencies is a bug that must surface, not be
    answered with the first posting.
    """
    posted = sorted(_leg_key(e.account_id, e.amount, e.currency) for e in tx.entries.all())
    asked = sorted(_leg_key(leg.account.pk, leg.amount.amount, leg.amount.currency.code) for leg in legs)
    if posted != asked:
        logger.error("ledger reference %s posted again with other legs: %s, then %s", tx.reference, posted, asked)
        raise LedgerReferenceConflict()
    return tx


def ledger_transfer(*, reference: str, kind: str, source: LedgerAccount, target: LedgerAccount, amount: Money, description=""):
    """Post `amount` from `source` to `target` as one balanced transaction; returns (transaction, created)."""
    return ledger_post(
        reference=reference,
        kind=kind,
        legs=[Leg(source, -amount), Leg(target, amount)],
        description=description,
    )
