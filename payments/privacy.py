"""Payments' part of a personal-data export and erasure (registered in PaymentsConfig.ready).

Payments, withdrawals and ledger entries are kept on erasure (the law requires
the books); they point to the anonymised account and hold no name, e-mail or
address. An erasure closes the person's wallets, so it is refused while one
holds money (409 `wallet_not_empty`: pay it out first) or has a deposit or
withdrawal in flight (409 `wallet_has_pending_payments`).
"""

from django.utils.translation import gettext_lazy as _

from payments.audit import audit_record
from payments.exceptions import PaymentErrorCode, WalletClosed
from payments.models import Payment, Wallet, Withdrawal
from payments.selectors import wallet_statement
from payments.services.wallets import wallet_close


def payments_export(*, user) -> list[dict]:
    """The person's payments, oldest first: what, how much, how, and how it ended."""
    payments = Payment.objects.filter(user=user).order_by("created_at", "id")
    return [
        {
            "id": str(p.uid),
            "purpose": p.purpose,
            "reference": p.reference,
            "method": p.method,
            "amount": {"amount": p.amount.amount, "currency": str(p.amount.currency)},
            "refunded_amount": p.refunded_amount,
            "status": p.status,
            "created_at": p.created_at,
            "settled_at": p.settled_at,
        }
        for p in payments
    ]


def wallet_statements_export(*, user) -> list[dict]:
    """Each wallet with its balance, every ledger entry and every withdrawal."""
    wallets = []
    for wallet in Wallet.objects.filter(user=user).order_by("currency"):
        entries = wallet_statement(wallet=wallet).order_by("transaction__created_at", "id")
        wallets.append(
            {
                "currency": wallet.currency,
                "status": wallet.status,
                "balance": wallet.balance,
                "created_at": wallet.created_at,
                "entries": [
                    {
                        "posted_at": entry.transaction.created_at,
                        "kind": entry.transaction.kind,
                        "description": entry.transaction.description,
                        "amount": entry.amount,
                    }
                    for entry in entries
                ],
                "withdrawals": list(
                    Withdrawal.objects.filter(wallet=wallet)
                    .order_by("created_at", "id")
                    .values("amount", "amount_currency", "status", "created_at")
                ),
            }
        )
    return wallets


def payments_erase(*, user) -> dict:
    """Close every open wallet of the person; refuses (WalletClosed, 409) while one holds money."""
    closed = 0
    for wallet in Wallet.objects.filter(user=user, status=Wallet.Status.OPEN).order_by("id"):
        try:
            wallet_close(wallet_id=wallet.pk)
        except WalletClosed as refusal:
            if refusal.code == PaymentErrorCode.WALLET_NOT_EMPTY:
                raise WalletClosed(
                    _("Your %(currency)s wallet still holds money: withdraw it before your account is erased.")
                    % {"currency": wallet.currency},
                    code=PaymentErrorCode.WALLET_NOT_EMPTY,
                ) from None
            raise
        closed += 1
    return {"wallets_closed": closed}


def privacy_audit_record(*, actor, action: str, obj=None, data: dict | None = None) -> None:
    """Put a privacy request (an export, an erasure) in the audit log."""
    audit_record(actor=actor, action=action, obj=obj, data=data)
