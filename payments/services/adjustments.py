"""Staff wallet adjustments: a balanced ledger transaction with a reason, never an edit of a balance."""

import uuid

from django.db import transaction
from djmoney.money import Money

from payments.audit import audit_record
from payments.exceptions import CurrencyMismatch, InvalidAmount, ReasonRequired, WalletNotFound
from payments.models import LedgerAccount, LedgerTransaction, Wallet
from payments.services.ledger import Leg, ledger_post, ledger_system_account
from shop.core.money import minor_unit_quantum


def wallet_adjust(*, wallet_id: int, amount: Money, reason: str, actor) -> LedgerTransaction:
    """Credit (positive) or debit (negative) a wallet against provider clearing, with a reason.

    Posts one balanced ADJUSTMENT transaction through ledger_post (a debit is
    guarded: never below zero, else InsufficientFunds) and records the staff
    action in the audit log, in one transaction. Takes the wallet row lock.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(field="reason")
    value = amount.amount
    currency = amount.currency.code
    if not value.is_finite() or value == 0 or value != value.quantize(minor_unit_quantum(currency)):
        raise InvalidAmount(field="amount")
    wallet = Wallet.objects.select_related("account").filter(pk=wallet_id).first()
    if wallet is None:
        raise WalletNotFound()
    if wallet.currency != currency:
        raise CurrencyMismatch(field="amount")
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency)
    with transaction.atomic():
        tx, _created = ledger_post(
            reference=f"adjustment:{uuid.uuid4()}",
            kind=LedgerTransaction.Kind.ADJUSTMENT,
            legs=[Leg(clearing, -amount), Leg(wallet.account, amount)],
            description=reason,
        )
        audit_record(
            actor=actor,
            action="wallet_adjust",
            obj=wallet,
            reason=reason,
            data={"amount": str(value), "currency": currency, "transaction": tx.reference},
        )
    return tx
