"""Refunds: money back the way it came (wallet at once, card through the provider), settled once."""

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from payments import handlers
from payments.exceptions import (
    RefundFailed,
    RefundNotAllowed,
)
from payments.gateway import Outcome, PaymentAttemptError, get_gateway
from payments.models import (
    LedgerAccount,
    LedgerTransaction,
    Payment,
    PaymentAttempt,
    Refund,
)
from payments.services.attempts import amount_check, attempt_record, call_lease, retry_delay, round_claim
from payments.services.ledger import ledger_system_account, ledger_transfer
from payments.services.wallets import wallet_credit

logger = logging.getLogger(__name__)


def payment_refund(*, payment_id: int, amount: Money, reference: str, reason: str, actor=None) -> Refund:
    """Give money back the way it came; idempotent per `reference`; one balanced ledger transaction.

    Wallet payments are credited back to the wallet at once. Card payments
    are refunded through the provider (an HTTP call made after the refund row
    is committed when called outside a transaction).
    """
    existing = Refund.objects.filter(reference=reference).first()
    if existing:
        return existing
    amount_check(amount)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED):
            raise RefundNotAllowed()
        if payment.purpose == Payment.Purpose.WALLET_DEPOSIT:
            # Deposited money sits in the wallet; it leaves by a withdrawal, not a refund.
            raise RefundNotAllowed()
        pending = Refund.objects.filter(payment=payment, status=Refund.Status.PENDING).aggregate(
            total=Sum("amount")
        )["total"] or Decimal(0)
        if amount.currency.code != payment.amount.currency.code or amount.amount > payment.refundable.amount - pending:
            raise RefundNotAllowed(field="amount")
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    payment=payment,
                    amount=amount,
                    reference=reference,
                    reason=reason[:255],
                    actor=actor,
                    attempt_count=1,
                    next_retry_at=timezone.now() + call_lease(),
                )
        except IntegrityError:
            return Refund.objects.get(reference=reference)
        if payment.method == Payment.Method.WALLET:
            wallet_credit(
                wallet_id=payment.wallet_id,
                amount=amount,
                reference=refund.ledger_reference,
                description=f"refund {reference}",
            )
            _refund_complete(payment, refund)
            return refund
    refund = _refund_send(refund=refund, payment=payment)
    if refund.status == Refund.Status.FAILED:
        raise RefundFailed()
    return refund


def _refund_send(*, refund: Refund, payment: Payment) -> Refund:
    """Send the refund (always with the refund's key: the provider refunds at most once) and settle the answer."""
    charge_id = payment.provider_charge_id
    if not charge_id:
        # A late charge reported without its id: the provider tells which charge our key made.
        lookup = get_gateway().get_charge(idempotency_key=payment.provider_key)
        attempt_record(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment, refund=refund)
        if lookup.outcome != Outcome.SUCCEEDED or not lookup.provider_id:
            return refund_settle(refund_id=refund.pk, outcome=Outcome.UNKNOWN, error_code=lookup.error_code or PaymentAttemptError.NO_CHARGE_ID)
        charge_id = lookup.provider_id
    result = get_gateway().refund(
        idempotency_key=refund.provider_key,
        charge_id=charge_id,
        amount=refund.amount,
        reference=refund.reference,
    )
    attempt_record(kind=PaymentAttempt.Kind.REFUND, result=result, payment=payment, refund=refund)
    return refund_settle(
        refund_id=refund.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
    )


def refund_retry(*, refund_id: int) -> Refund:
    """Send a pending card refund again with the same key (the provider refunds at most once).

    Call outside any transaction (HTTP). Claims the round under the refund
    row lock (attempt counted, leased past the provider call).
    """
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        round_claim(refund)
    return refund_retry_claimed(refund)


def refund_retry_claimed(refund: Refund) -> Refund:
    """A retry round for a refund already claimed (see refund_retry); the retry job calls it too."""
    return _refund_send(refund=refund, payment=Payment.objects.get(pk=refund.payment_id))


def refund_settle(*, refund_id: int, outcome: Outcome, provider_id: str = "", error_code: str = "") -> Refund:
    """Apply a provider's refund outcome once. Takes the refund's and then the payment's row lock.

    Success posts the refund: shop revenue -> provider clearing, or, for a
    late-charge refund, refunds payable -> provider clearing (undoing the
    booking of the late charge). A refund the provider refuses fails, for
    staff to look at. Any other answer (none, or an error before processing)
    leaves it pending: the retry job sends it again with the same key after a
    backoff capped at RETRY_MAX_SECONDS, however many attempts that takes,
    since a refund that may have been made is never guessed failed.
    """
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund.last_error_code = error_code or refund.last_error_code
        if outcome == Outcome.SUCCEEDED:
            currency = refund.amount.currency.code
            source = LedgerAccount.Purpose.SHOP_REVENUE
            if refund.kind == Refund.Kind.LATE_CHARGE:
                source = LedgerAccount.Purpose.REFUNDS_PAYABLE
            ledger_transfer(
                reference=refund.ledger_reference,
                kind=LedgerTransaction.Kind.REFUND,
                source=ledger_system_account(purpose=source, currency=currency),
                target=ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency),
                amount=refund.amount,
                description=f"refund {refund.reference}",
            )
            refund.provider_refund_id = provider_id
            _refund_complete(payment, refund)
            return refund
        if outcome == Outcome.DECLINED:
            refund.status = Refund.Status.FAILED
            refund.next_retry_at = None
            logger.error("refund %s refused by the provider (%s)", refund.reference, refund.last_error_code or outcome)
        else:
            refund.next_retry_at = timezone.now() + retry_delay(refund.attempt_count)
        refund.save(update_fields=["status", "next_retry_at", "last_error_code", "updated_at"])
        return refund


def _refund_complete(payment: Payment, refund: Refund) -> None:
    refund.status = Refund.Status.SUCCEEDED
    refund.next_retry_at = None
    refund.save(update_fields=["status", "provider_refund_id", "last_error_code", "next_retry_at", "updated_at"])
    if refund.kind == Refund.Kind.LATE_CHARGE:
        return  # the payment failed here and stays failed; nobody above payments was ever told of the charge
    payment.refunded_amount = payment.refunded_amount + refund.amount.amount
    payment.status = (
        Payment.Status.REFUNDED if payment.refunded_amount >= payment.amount.amount else Payment.Status.PARTIALLY_REFUNDED
    )
    payment.save(update_fields=["refunded_amount", "status", "updated_at"])
    handlers.notify_refunded(payment, refund)
