"""Payments: create, pay by wallet, void, charge a card (after fraud screening) and settle the answer.

Lock order: payment row, then wallet rows (through ledger_post). Calls to the
provider are made outside any transaction of ours.
"""

import logging

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone
from djmoney.money import Money

from payments import handlers
from payments.exceptions import (
    PaymentErrorCode,
    PaymentInProgress,
    WalletClosed,
    WalletNotFound,
)
from payments.gateway import Outcome, PaymentAttemptError, get_gateway
from payments.models import (
    LedgerAccount,
    LedgerTransaction,
    Payment,
    PaymentAttempt,
    PaymentHold,
    PaymentScreening,
    Refund,
    Wallet,
)
from payments.selectors import card_token_check
from payments.services.attempts import amount_check, attempt_record, call_lease, retry_delay
from payments.services.ledger import ledger_system_account, ledger_transfer
from payments.services.screening import payment_screen
from shop.core.exceptions import InvalidTransition
from shop.core.tasks import task_enqueue_on_commit

logger = logging.getLogger(__name__)
log = structlog.get_logger(__name__)


def _payment_log_context(payment: Payment) -> dict:
    """What every log line about a payment names: the payment, its shopper and its provider idempotency key."""
    return {"payment_id": payment.pk, "user_id": payment.user_id, "idempotency_key": payment.provider_key}


def payment_new(*, user, purpose, reference, amount: Money, method, card_token="", wallet=None) -> Payment:
    """Save a new pending payment with its provider key (derived from its uid); no checks (callers make them)."""
    payment = Payment(
        user=user,
        purpose=purpose,
        reference=reference,
        amount=amount,
        method=method,
        card_token=card_token,
        wallet=wallet,
    )
    payment.provider_key = f"payment-{payment.uid}"
    with transaction.atomic(savepoint=False):
        payment.save()
    return payment


def payment_create(*, user, purpose: str, reference: str, amount: Money, method: str, card_token: str = "") -> Payment:
    """A pending payment for an order (call inside the order's transaction).

    A card payment needs a provider token (`tok_...`): anything else, a card
    number above all, raises InvalidCardToken (400) before anything is written.
    """
    amount_check(amount)
    if purpose not in Payment.Purpose.values:
        raise ValueError(f"unknown payment purpose {purpose!r}")
    if method not in Payment.Method.values:
        raise ValueError(f"unknown payment method {method!r}")
    if method == Payment.Method.CARD:
        card_token = card_token_check(card_token)
    return payment_new(
        user=user, purpose=purpose, reference=reference, amount=amount, method=method, card_token=card_token
    )


def payment_pay_with_wallet(*, payment_id: int, created: Payment | None = None, notify: bool = True) -> Payment:
    """Pay from the user's wallet in the payment's currency, post the ledger, mark succeeded, call the handler.

    All in one transaction; call it inside the order's transaction so the
    debit and "paid" commit together. Takes the payment row lock, then the
    wallet's. Raises InsufficientFunds / WalletNotFound / WalletClosed, which
    end the caller's transaction too (no savepoint of its own: checkout is hot).
    `created`: the payment as the caller created it in this same transaction
    (a new row, so the transaction holds its lock already): not read again.
    `notify=False`: the purpose's handler is not called; the caller, which made the payment's object in
    this same transaction (checkout, its order), does what the handler would, in that transaction.
    """
    with transaction.atomic(savepoint=False):
        if created is not None and created.pk == payment_id and created.status == Payment.Status.PENDING:
            payment = created
        else:
            payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status == Payment.Status.SUCCEEDED:
            return payment
        if payment.is_final:
            raise InvalidTransition()
        currency = payment.amount.currency.code
        revenue_purpose = LedgerAccount.Purpose.SHOP_REVENUE
        wallet = (
            Wallet.objects.select_related("account")
            .annotate(revenue_account_id=Subquery(  # the shop's revenue account, read with the wallet
                LedgerAccount.objects.filter(user=None, purpose=revenue_purpose, currency=currency).values("id")[:1]
            ))
            .filter(user_id=payment.user_id, currency=currency)
            .first()
        )
        if wallet is None:
            raise WalletNotFound()
        if not wallet.is_open:
            raise WalletClosed()
        if wallet.revenue_account_id is not None:
            revenue = LedgerAccount(pk=wallet.revenue_account_id, user=None, purpose=revenue_purpose, currency=currency)
        else:  # the currency's first sale makes it
            revenue = ledger_system_account(purpose=revenue_purpose, currency=currency)
        ledger_transfer(
            reference=payment.ledger_reference,
            kind=LedgerTransaction.Kind.PURCHASE,
            source=wallet.account,
            target=revenue,
            amount=payment.amount,
            description=f"{payment.purpose} {payment.reference}",
        )
        payment.wallet = wallet
        payment.method = Payment.Method.WALLET
        payment.status = Payment.Status.SUCCEEDED
        payment.settled_at = timezone.now()
        payment.attempt_count += 1
        payment.next_retry_at = None
        payment.save(
            update_fields=["wallet", "method", "status", "settled_at", "attempt_count", "next_retry_at", "updated_at"]
        )
        if notify:
            handlers.notify_succeeded(payment)
        return payment


def payment_void(*, payment_id: int, reason: str = "") -> Payment:
    """Give up a payment that never reached the provider (pending, or held for review): it fails.

    A hold on it is refused, so a later release can never charge it. Purpose
    handlers are not called: the caller (an order being cancelled) owns the
    follow-up. Takes the payment row lock. Raises PaymentInProgress (409) once
    the payment is processing/unknown, InvalidTransition when it succeeded.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status == Payment.Status.FAILED:
            return payment
        if payment.status in Payment.OPEN_STATUSES:
            raise PaymentInProgress()
        if payment.status != Payment.Status.PENDING:
            raise InvalidTransition()
        PaymentHold.objects.filter(payment=payment, status=PaymentHold.Status.HELD).update(
            status=PaymentHold.Status.REFUSED, decided_at=timezone.now()
        )
        payment.status = Payment.Status.FAILED
        payment.last_error_code = PaymentAttemptError.CANCELLED
        payment.last_error = str(reason)[:500]
        payment.next_retry_at = None
        payment.settled_at = timezone.now()
        payment.save(
            update_fields=["status", "last_error_code", "last_error", "next_retry_at", "settled_at", "updated_at"]
        )
        return payment


def payment_charge_card(*, payment_id: int) -> Payment:
    """Charge the card once (provider key derived from the payment), then settle the answer.

    Call outside any transaction: it makes an HTTP call. Only a pending
    payment is charged here; anything else is returned as it is (the retry
    job owns processing/unknown payments). Fraud screening runs first
    (screening.payment_screen): a refused payment fails, a held one stays pending.
    """
    screening = payment_screen(payment_id=payment_id)
    if screening.verdict == PaymentScreening.Verdict.REFUSE:
        payment_settle(
            payment_id=payment_id,
            outcome=Outcome.DECLINED,
            error_code=PaymentErrorCode.PAYMENT_REFUSED,
            error=screening.reason,
            notify_on_failure=True,
        )
    if screening.verdict != PaymentScreening.Verdict.PASS:
        return Payment.objects.get(pk=payment_id)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.Status.PENDING:
            return payment
        payment.status = Payment.Status.PROCESSING
        payment.attempt_count += 1
        # If this process dies mid-call, the retry sweep picks the payment up after the lease.
        payment.next_retry_at = timezone.now() + call_lease()
        payment.save(update_fields=["status", "attempt_count", "next_retry_at", "updated_at"])
    return payment_charge_send(payment=payment)


def payment_charge_send(*, payment: Payment, notify_on_failure: bool = False) -> Payment:
    """Send one charge for a claimed payment (outside any transaction) and settle it by the answer."""
    result = get_gateway().charge(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        token=payment.card_token,
        reference=payment.reference,
        description=f"{payment.get_purpose_display()} {payment.reference}",
    )
    attempt_record(kind=PaymentAttempt.Kind.CHARGE, result=result, payment=payment)
    log.info(
        "payment charge sent",
        **_payment_log_context(payment),
        amount=str(payment.amount.amount),
        currency=payment.amount.currency.code,
        outcome=str(result.outcome),
        error_code=result.error_code,
        latency_ms=result.latency_ms,
    )
    return payment_settle(
        payment_id=payment.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
        error=result.error or "",
        notify_on_failure=notify_on_failure,
    )


def _post_payment_success(payment: Payment) -> None:
    currency = payment.amount.currency.code
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency)
    if payment.purpose == Payment.Purpose.WALLET_DEPOSIT:
        target = Wallet.objects.select_related("account").get(pk=payment.wallet_id).account
        kind = LedgerTransaction.Kind.DEPOSIT
    else:
        target = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=currency)
        kind = LedgerTransaction.Kind.PURCHASE
    ledger_transfer(
        reference=payment.ledger_reference,
        kind=kind,
        source=clearing,
        target=target,
        amount=payment.amount,
        description=f"{payment.purpose} {payment.reference}",
    )


def payment_settle(
    *,
    payment_id: int,
    outcome: Outcome,
    provider_id: str = "",
    error_code: str = "",
    error: str = "",
    notify_on_failure: bool = False,
) -> Payment:
    """Apply a provider outcome to a card payment: the one place a card payment changes state.

    Used for the synchronous answer, the retry job's lookups and webhooks.
    Takes the payment row lock.

    - `succeeded`: posts the ledger transaction exactly once (reference-unique)
      and calls the handler in the same transaction.
    - `declined`: failed (final).
    - `not_found` (the provider holds no charge for our key and we stop
      charging: after the last attempt), or `retryable` on the last attempt
      (this charge was refused before processing, and the lookup before it
      found none): failed.
    - `unknown` (no answer: a timeout, a dropped connection, a lookup that
      failed): `unknown`, looked up again after a backoff capped at
      RETRY_MAX_SECONDS, however many attempts were made. `retryable` with
      attempts left: `processing`, charged again (same key) after a backoff.

    A final state is final: a late `charge.failed` never un-succeeds a
    payment; a success reported for a payment that failed here is given back
    through a durable late-charge refund (see _late_charge_refund_open).
    A failed wallet deposit's shopper is told once: by the synchronous answer
    (`notify_on_failure=False`) or by e-mail (payment_failure_notify).
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.is_final:
            _payment_settle_final(payment, outcome=outcome, provider_id=provider_id)
            return payment
        if provider_id:
            payment.provider_charge_id = provider_id
        if error_code or error:
            payment.last_error_code = error_code
            payment.last_error = error
        if outcome == Outcome.SUCCEEDED:
            _payment_succeed(payment)
        elif outcome == Outcome.DECLINED:
            _payment_fail(payment, notify=notify_on_failure)
        elif outcome == Outcome.NOT_FOUND or (
            outcome == Outcome.RETRYABLE and payment.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS
        ):
            payment.last_error_code = payment.last_error_code or PaymentAttemptError.MAX_ATTEMPTS
            _payment_fail(payment, notify=True)
        else:
            _payment_retry_later(payment, outcome=outcome)
        log.info("payment settled", **_payment_log_context(payment), status=payment.status, outcome=str(outcome))
        return payment


def _payment_settle_final(payment: Payment, *, outcome: Outcome, provider_id: str) -> None:
    """Inside payment_settle: an outcome for a payment already final here never changes its state."""
    if outcome == Outcome.SUCCEEDED and payment.status == Payment.Status.FAILED:
        _late_charge_refund_open(payment, charge_id=provider_id)
    elif outcome in (Outcome.SUCCEEDED, Outcome.DECLINED) and _outcome_status(outcome) != payment.status:
        logger.warning("payment %s is %s; ignoring later outcome %s", payment.pk, payment.status, outcome)


def _payment_succeed(payment: Payment) -> None:
    """Inside payment_settle: post the ledger once, mark succeeded, call the purpose handler."""
    _post_payment_success(payment)
    payment.status = Payment.Status.SUCCEEDED
    payment.settled_at = timezone.now()
    payment.next_retry_at = None
    payment.save()
    handlers.notify_succeeded(payment)


def _payment_retry_later(payment: Payment, *, outcome: Outcome) -> None:
    """Inside payment_settle: `retryable` is charged again, `unknown` looked up again, after a backoff."""
    if outcome == Outcome.RETRYABLE:
        payment.status = Payment.Status.PROCESSING
        if payment.last_error_code == "":
            payment.last_error_code = PaymentAttemptError.RETRYABLE
    else:
        # Unknown stays unknown until the provider answers, however long that takes.
        payment.status = Payment.Status.UNKNOWN
    payment.next_retry_at = timezone.now() + retry_delay(payment.attempt_count)
    payment.save()


def _outcome_status(outcome: Outcome) -> str:
    return Payment.Status.SUCCEEDED if outcome == Outcome.SUCCEEDED else Payment.Status.FAILED


def _payment_fail(payment: Payment, *, notify: bool) -> None:
    payment.status = Payment.Status.FAILED
    payment.settled_at = timezone.now()
    payment.next_retry_at = None
    if payment.purpose == Payment.Purpose.WALLET_DEPOSIT:
        if notify:
            # A lost kick is sent by the retry job's sweep (payment_failure_notify_pending).
            task_enqueue_on_commit("payments.tasks.send_payment_failed_email", payment.pk)
        else:
            payment.failure_notified_at = payment.settled_at  # the synchronous answer told the shopper
    payment.save()
    handlers.notify_failed(payment)


def _late_charge_refund_open(payment: Payment, *, charge_id: str) -> Refund:
    """Inside payment_settle's transaction: the provider charged a payment that had failed here.

    The payment stays failed (its handlers ran: the order was cancelled, the
    wallet not credited). In this same transaction the charge is booked
    (provider clearing -> refunds payable: the shop holds money it owes the
    shopper) and a late-charge Refund row is opened for the full amount, once
    per payment; the retry job drives it to completion with the provider under
    the refund's own key, and its success posts refunds payable -> provider
    clearing. After commit a task tries it at once.
    """
    refund, created = Refund.objects.get_or_create(
        reference=f"late-charge-{payment.uid}",
        defaults={
            "payment": payment,
            "kind": Refund.Kind.LATE_CHARGE,
            "amount": payment.amount,
            "reason": "charged by the provider after the payment had failed",
            "attempt_count": 0,
            "next_retry_at": timezone.now(),
        },
    )
    if not created:
        return refund
    logger.error("payment %s failed here but the provider charged it (%s); refunding", payment.pk, charge_id)
    if charge_id and charge_id != payment.provider_charge_id:
        payment.provider_charge_id = charge_id
        payment.save(update_fields=["provider_charge_id", "updated_at"])
    currency = payment.amount.currency.code
    ledger_transfer(
        reference=f"late-charge:{payment.uid}",
        kind=LedgerTransaction.Kind.REFUND,
        source=ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency),
        target=ledger_system_account(purpose=LedgerAccount.Purpose.REFUNDS_PAYABLE, currency=currency),
        amount=payment.amount,
        description=f"late charge {payment.reference}",
    )
    task_enqueue_on_commit("payments.tasks.send_refund", refund.pk)
    return refund
