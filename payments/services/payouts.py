"""Withdrawals: wallet money paid back to a card through the provider, settled once, retried by key.

Calls to the provider are made outside any transaction of ours.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from payments.exceptions import (
    InsufficientFunds,
    WithdrawalCardNotAllowed,
)
from payments.gateway import Outcome, PaymentAttemptError, get_gateway
from payments.idempotency import idempotency_key_attach
from payments.models import (
    IdempotencyKey,
    LedgerAccount,
    LedgerTransaction,
    PaymentAttempt,
    Withdrawal,
)
from payments.selectors import card_token_check, wallet_funding_cards
from payments.services.attempts import attempt_record, call_lease, retry_delay, round_claim
from payments.services.ledger import ledger_system_account, ledger_transfer
from payments.services.wallets import wallet_for_money, wallet_lock_open

logger = logging.getLogger(__name__)


def wallet_withdraw(
    *, wallet_id: int, amount: Money, card_token: str, user=None, idempotency_claim: IdempotencyKey | None = None
) -> Withdrawal:
    """Pay wallet money back to a card. Debits first (guarded), then calls the provider.

    Only a card that funded a succeeded deposit into this wallet may receive
    it (WithdrawalCardNotAllowed, 400, otherwise): wallet money never leaves
    to a stranger's card. `idempotency_claim` is given the withdrawal in the
    transaction that debits the wallet (see wallet_deposit).

    Makes an HTTP call: call outside any transaction. A declined payout is
    reversed back into the wallet; an unknown one stays processing and is
    re-sent with the same idempotency key by the retry job.
    """
    wallet = wallet_for_money(wallet_id=wallet_id, amount=amount, user=user)
    card_token = card_token_check(card_token)
    if card_token not in wallet_funding_cards(wallet=wallet):
        raise WithdrawalCardNotAllowed(field="card_token")
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=wallet.currency)
    with transaction.atomic():
        wallet_lock_open(wallet_id=wallet.pk)
        withdrawal = Withdrawal.objects.create(
            wallet=wallet,
            amount=amount,
            card_token=card_token,
            attempt_count=1,
            next_retry_at=timezone.now() + call_lease(),
        )
        ledger_transfer(
            reference=withdrawal.ledger_reference,
            kind=LedgerTransaction.Kind.WITHDRAWAL,
            source=wallet.account,
            target=clearing,
            amount=amount,
            description=f"withdrawal {withdrawal.uid}",
        )
        idempotency_key_attach(record=idempotency_claim, obj=withdrawal)
    return _withdrawal_send(withdrawal=withdrawal)


def _withdrawal_send(*, withdrawal: Withdrawal) -> Withdrawal:
    """Send the payout (always with the withdrawal's key: the provider pays out at most once) and settle the answer."""
    result = get_gateway().payout(
        idempotency_key=withdrawal.provider_key,
        amount=withdrawal.amount,
        token=withdrawal.card_token,
        reference=f"withdrawal-{withdrawal.pk}",
    )
    attempt_record(kind=PaymentAttempt.Kind.PAYOUT, result=result, withdrawal=withdrawal)
    return withdrawal_settle(
        withdrawal_id=withdrawal.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
        error=result.error or "",
    )


def withdrawal_settle(*, withdrawal_id: int, outcome: Outcome, provider_id: str = "", error_code: str = "", error: str = ""):
    """Apply a payout outcome once: the one place a withdrawal changes state. Takes the withdrawal row lock.

    - `succeeded`: final.
    - `declined` (the provider refused the payout), `not_found` (the provider holds no payout
      for our key and we will not send again: after the last attempt), or `retryable` on the
      last attempt (this send was refused before processing, and the lookup before it found
      none): the debit is reversed into the wallet, once.
    - `unknown` (no answer: a timeout, a dropped connection, a lookup that failed) or
      `retryable` with attempts left: the withdrawal stays processing and the retry job looks
      it up again after a backoff capped at RETRY_MAX_SECONDS. An unknown payout is never
      guessed failed: reversing a payout the provider made would create money.

    A payout the provider reports succeeded after its debit was reversed (possible only if a
    send was still in flight when the provider said it had none) is debited from the wallet
    again when the money is still there, and logged for staff either way.
    """
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().select_related("wallet__account").get(pk=withdrawal_id)
        if withdrawal.status == Withdrawal.Status.FAILED and outcome == Outcome.SUCCEEDED:
            _withdrawal_late_payout(withdrawal, provider_id=provider_id)
            return withdrawal
        if withdrawal.status != Withdrawal.Status.PROCESSING:
            return withdrawal
        withdrawal.last_error_code = error_code or withdrawal.last_error_code
        withdrawal.last_error = error or withdrawal.last_error
        last_attempt = withdrawal.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS
        if outcome == Outcome.SUCCEEDED:
            withdrawal.status = Withdrawal.Status.SUCCEEDED
            withdrawal.provider_payout_id = provider_id or withdrawal.provider_payout_id
            withdrawal.next_retry_at = None
        elif outcome in (Outcome.DECLINED, Outcome.NOT_FOUND) or (outcome == Outcome.RETRYABLE and last_attempt):
            clearing = ledger_system_account(
                purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=withdrawal.wallet.currency
            )
            ledger_transfer(
                reference=f"{withdrawal.ledger_reference}:reversal",
                kind=LedgerTransaction.Kind.REVERSAL,
                source=clearing,
                target=withdrawal.wallet.account,
                amount=withdrawal.amount,
                description=f"withdrawal {withdrawal.uid} reversed",
            )
            withdrawal.status = Withdrawal.Status.FAILED
            withdrawal.next_retry_at = None
        else:
            withdrawal.next_retry_at = timezone.now() + retry_delay(withdrawal.attempt_count)
        withdrawal.save()
        return withdrawal


def _withdrawal_late_payout(withdrawal: Withdrawal, *, provider_id: str) -> None:
    """Inside withdrawal_settle: the provider paid out a withdrawal whose debit was already reversed."""
    logger.error("withdrawal %s was reversed, but the provider paid it out (%s)", withdrawal.pk, provider_id)
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=withdrawal.wallet.currency)
    try:
        with transaction.atomic():
            ledger_transfer(
                reference=f"{withdrawal.ledger_reference}:late-payout",
                kind=LedgerTransaction.Kind.WITHDRAWAL,
                source=withdrawal.wallet.account,
                target=clearing,
                amount=withdrawal.amount,
                description=f"withdrawal {withdrawal.uid} paid out after its reversal",
            )
    except InsufficientFunds:
        logger.error("withdrawal %s: the wallet no longer holds %s; staff must recover it", withdrawal.pk, withdrawal.amount)
        return
    withdrawal.status = Withdrawal.Status.SUCCEEDED
    withdrawal.provider_payout_id = provider_id or withdrawal.provider_payout_id
    withdrawal.last_error_code = PaymentAttemptError.LATE_PAYOUT
    withdrawal.save()


def withdrawal_retry(*, withdrawal_id: int) -> Withdrawal:
    """One retry round for a processing payout: look it up by key first, send again only if the provider has none.

    Call outside any transaction (HTTP). Claims the round under the withdrawal
    row lock (attempt counted, leased past the provider call); see
    withdrawal_settle for what each answer does.
    """
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.PROCESSING:
            return withdrawal
        round_claim(withdrawal)
    return withdrawal_retry_claimed(withdrawal)


def withdrawal_retry_claimed(withdrawal: Withdrawal) -> Withdrawal:
    """A retry round for a withdrawal already claimed (see withdrawal_retry); the retry job calls it too."""
    lookup = get_gateway().get_payout(idempotency_key=withdrawal.provider_key)
    attempt_record(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, withdrawal=withdrawal)
    if lookup.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED):
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome=lookup.outcome,
            provider_id=lookup.provider_id or "",
            error_code=lookup.error_code or "",
            error=lookup.error or "",
        )
    if lookup.outcome != Outcome.NOT_FOUND:
        # The provider could not be asked: never guess, never send blind; ask again later.
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome=Outcome.UNKNOWN,
            error_code=lookup.error_code or PaymentAttemptError.LOOKUP_FAILED,
            error=lookup.error or "",
        )
    if withdrawal.attempt_count > settings.PAYMENT_MAX_ATTEMPTS:
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome=Outcome.NOT_FOUND,
            error_code=PaymentAttemptError.MAX_ATTEMPTS,
            error="the provider has no payout for this withdrawal after the last attempt",
        )
    return _withdrawal_send(withdrawal=withdrawal)
