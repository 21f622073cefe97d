"""The payments app's models, one module per area (Django finds them through this package).

This is the one kind of package whose __init__ imports its modules: Django
registers a model when its module is imported, and code reads the models as
`payments.models.X`.
"""

from payments.models.audit import AuditLog
from payments.models.fraud import FraudRule, PaymentHold, PaymentScreening
from payments.models.gift_cards import GiftCard
from payments.models.ledger import (
    AMOUNT_DIGITS,
    AMOUNT_PLACES,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Wallet,
)
from payments.models.pay_ins import Payment, PaymentAttempt, Refund, Withdrawal
from payments.models.reconciliation import ReconciliationItem, ReconciliationRun
from payments.models.requests import IdempotencyKey, WebhookEvent

__all__ = [
    "AMOUNT_DIGITS", "AMOUNT_PLACES", "AuditLog", "FraudRule", "GiftCard", "IdempotencyKey", "LedgerAccount", "LedgerEntry",
    "LedgerTransaction", "Payment", "PaymentAttempt", "PaymentHold", "PaymentScreening", "ReconciliationItem",
    "ReconciliationRun", "Refund", "WebhookEvent", "Wallet", "Withdrawal",
]
