"""Every write of the payments app: ledger postings, wallets, payments, refunds, withdrawals.

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

`ledger_post` is the only code that writes entries and the only code that
changes a wallet's cached `balance`, in the same transaction, with a guarded
UPDATE (`balance >= amount`) for debits so that concurrent spends can never
overdraw.

Lock order: payment row, then wallet rows (through ledger_post). Calls to the
provider are made outside any transaction of ours.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments import handlers
from payments.exceptions import (
    CurrencyMismatch,
    DepositLimitExceeded,
    EmailNotVerified,
    InsufficientFunds,
    InvalidAmount,
    LedgerReferenceConflict,
    PaymentErrorCode,
    PaymentInProgress,
    PaymentNotFound,
    RefundFailed,
    RefundNotAllowed,
    UnbalancedTransaction,
    UnsupportedCurrency,
    WalletClosed,
    WalletExists,
    WalletNotFound,
    WithdrawalCardNotAllowed,
)
from payments.idempotency import idempotency_key_attach
from payments.models import (
    IdempotencyKey,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentAttempt,
    PaymentHold,
    Refund,
    Wallet,
    WebhookEvent,
    Withdrawal,
)
from payments.selectors import card_token_check, user_has_verified_email, wallet_funding_cards
from shop.core.exceptions import InvalidTransition
from shop.core.money import minor_unit_quantum, money_to_dict

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600


# --- helpers --------------------------------------------------------------------


def _gateway():
    from payments.gateway import get_gateway

    return get_gateway()


def _check_amount(amount: Money) -> None:
    currency = amount.currency.code
    if currency not in settings.CURRENCIES:
        raise UnsupportedCurrency(field="amount")
    value = amount.amount
    if not value.is_finite() or value <= 0 or value != value.quantize(minor_unit_quantum(currency)):
        raise InvalidAmount(field="amount")


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: 30 s * 2^(n-1), capped at RETRY_MAX_SECONDS, then half to all of it.

    The cap is what keeps an unknown payment, payout or refund being looked up
    (at most hourly) however many attempts it has had.
    """
    ceiling = min(RETRY_BASE_SECONDS * (2 ** min(max(attempt - 1, 0), 16)), RETRY_MAX_SECONDS)
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto


def _call_lease() -> timedelta:
    """How long a claimed payment stays out of the retry sweep while a provider call runs."""
    return timedelta(seconds=settings.PAYMENT_CONNECT_TIMEOUT + settings.PAYMENT_READ_TIMEOUT + 30)


def _record_attempt(*, kind: str, result, payment=None, refund=None, withdrawal=None) -> PaymentAttempt:
    return PaymentAttempt.objects.create(
        payment=payment,
        refund=refund,
        withdrawal=withdrawal,
        kind=kind,
        outcome=result.outcome,
        status_code=result.status_code,
        request=result.request or {},
        response=result.response or {},
        error_code=result.error_code or "",
        error=result.error or "",
        latency_ms=int(result.latency_ms or 0),
    )


# --- ledger ---------------------------------------------------------------------


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
    account: LedgerAccount
    amount: Money


def ledger_post(*, reference: str, kind: str, legs: list[Leg], description: str = "") -> tuple[LedgerTransaction, bool]:
    """Post a balanced transaction once per reference; returns (transaction, created).

    Posting a reference again returns the first posting only if the legs are
    the same (accounts, amounts, currencies); other legs raise
    LedgerReferenceConflict, a programming error that must not be hidden.

    The only writer of ledger entries and of wallets' cached balances. A leg
    that takes money out of a wallet is a guarded UPDATE (`balance >= amount`):
    if it matches no row the whole posting is undone and InsufficientFunds is
    raised. Takes the wallet rows' locks (in account-id order, no deadlocks).
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
            if leg.account.purpose != LedgerAccount.Purpose.CUSTOMER_WALLET:
                continue
            change = leg.amount.amount
            wallets = Wallet.objects.filter(account_id=leg.account.pk)
            if change < 0:
                wallets = wallets.filter(balance__gte=-change)
            if wallets.update(balance=F("balance") + change) != 1:
                raise InsufficientFunds()
        return tx, True


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


def _transfer(*, reference: str, kind: str, source: LedgerAccount, target: LedgerAccount, amount: Money, description=""):
    return ledger_post(
        reference=reference,
        kind=kind,
        legs=[Leg(source, -amount), Leg(target, amount)],
        description=description,
    )


# --- wallets ----------------------------------------------------------------------


def wallet_open(*, user, currency: str) -> Wallet:
    """Open the user's wallet in `currency` (verified e-mail required, one per currency)."""
    if currency not in settings.CURRENCIES:
        raise UnsupportedCurrency(field="currency")
    if not user_has_verified_email(user=user):
        raise EmailNotVerified()
    if Wallet.objects.filter(user=user, currency=currency).exists():
        raise WalletExists(field="currency")
    try:
        with transaction.atomic():
            account, _created = LedgerAccount.objects.get_or_create(
                user=user, purpose=LedgerAccount.Purpose.CUSTOMER_WALLET, currency=currency
            )
            return Wallet.objects.create(user=user, currency=currency, account=account)
    except IntegrityError:
        # Two requests raced; the unique (user, currency) constraint let one win.
        raise WalletExists(field="currency")


def wallet_close(*, wallet_id: int) -> Wallet:
    """Close an empty wallet with no money in flight: no more deposits or spends.

    Refuses (WalletClosed, 409) while a deposit is pending/processing/unknown
    (`wallet_has_pending_payments`: it may still credit the wallet) or a
    withdrawal is processing (it may still be reversed into it), and while the
    balance is not zero (`wallet_not_empty`). Takes the wallet row lock, which
    wallet_deposit and wallet_withdraw take too when they start a movement.
    """
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
        in_flight = (
            Payment.objects.filter(
                wallet=wallet,
                purpose=Payment.Purpose.WALLET_DEPOSIT,
                status__in=(Payment.Status.PENDING, *Payment.OPEN_STATUSES),
            ).exists()
            or Withdrawal.objects.filter(wallet=wallet, status=Withdrawal.Status.PROCESSING).exists()
        )
        if in_flight:
            raise WalletClosed(
                _("A deposit or withdrawal of this wallet is still being processed; close it once it has settled."),
                code=PaymentErrorCode.WALLET_HAS_PENDING_PAYMENTS,
            )
        if wallet.balance != 0:
            raise WalletClosed(_("Only an empty wallet can be closed."), code=PaymentErrorCode.WALLET_NOT_EMPTY)
        wallet.status = Wallet.Status.CLOSED
        wallet.save(update_fields=["status"])
        return wallet


def _wallet_for_money(*, wallet_id: int, amount: Money, user=None) -> Wallet:
    _check_amount(amount)
    qs = Wallet.objects.select_related("account")
    if user is not None:
        qs = qs.filter(user=user)
    wallet = qs.filter(pk=wallet_id).first()
    if wallet is None:
        raise WalletNotFound()
    if not wallet.is_open:
        raise WalletClosed()
    if wallet.currency != amount.currency.code:
        raise CurrencyMismatch(field="amount")
    return wallet


def _wallet_lock_open(*, wallet_id: int) -> Wallet:
    """Lock the wallet row and check it is still open (wallet_close may have won the race)."""
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    if not wallet.is_open:
        raise WalletClosed()
    return wallet


def wallet_debit(*, wallet_id: int, amount: Money, reference: str, description: str = "") -> LedgerTransaction:
    """Move money from the wallet to shop revenue (an order paid by wallet); guarded, never negative."""
    wallet = _wallet_for_money(wallet_id=wallet_id, amount=amount)
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=wallet.currency)
    tx, _created = _transfer(
        reference=reference,
        kind=LedgerTransaction.Kind.PURCHASE,
        source=wallet.account,
        target=revenue,
        amount=amount,
        description=description,
    )
    return tx


def wallet_credit(*, wallet_id: int, amount: Money, reference: str, description: str = "") -> LedgerTransaction:
    """Refund to a wallet: shop revenue -> refunds payable -> wallet, in one balanced transaction."""
    wallet = Wallet.objects.select_related("account").filter(pk=wallet_id).first()
    if wallet is None:
        raise WalletNotFound()
    _check_amount(amount)
    if wallet.currency != amount.currency.code:
        raise CurrencyMismatch(field="amount")
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=wallet.currency)
    payable = ledger_system_account(purpose=LedgerAccount.Purpose.REFUNDS_PAYABLE, currency=wallet.currency)
    tx, _created = ledger_post(
        reference=reference,
        kind=LedgerTransaction.Kind.REFUND,
        legs=[Leg(revenue, -amount), Leg(payable, amount), Leg(payable, -amount), Leg(wallet.account, amount)],
        description=description,
    )
    return tx


def wallet_deposit(
    *, wallet_id: int, amount: Money, card_token: str, user=None, idempotency_claim: IdempotencyKey | None = None
) -> Payment:
    """Top up a wallet by card. Makes an HTTP call: call outside any transaction.

    Returns the payment: succeeded (wallet credited), failed (declined) or
    processing/unknown (settled later by the retry job or a webhook). Refuses
    an amount above settings.WALLET_MAX_DEPOSIT (DepositLimitExceeded, 400)
    and a non-token (InvalidCardToken, 400) before anything is written.
    `idempotency_claim` (the API request's Idempotency-Key claim) is given the
    payment in the transaction that creates it, before the card is charged,
    so a replay after a crash answers from this payment instead of paying again.
    """
    wallet = _wallet_for_money(wallet_id=wallet_id, amount=amount, user=user)
    limit = Money(settings.WALLET_MAX_DEPOSIT, wallet.currency)
    if amount > limit:
        raise DepositLimitExceeded(
            _("A single deposit can be at most %(limit)s.") % {"limit": limit}, field="amount", limit=money_to_dict(limit)
        )
    card_token = card_token_check(card_token)
    with transaction.atomic():
        _wallet_lock_open(wallet_id=wallet.pk)
        payment = _payment_new(
            user=wallet.user,
            purpose=Payment.Purpose.WALLET_DEPOSIT,
            reference=f"wallet-{wallet.pk}",
            amount=amount,
            method=Payment.Method.CARD,
            card_token=card_token,
            wallet=wallet,
        )
        idempotency_key_attach(record=idempotency_claim, obj=payment)
    return payment_charge_card(payment_id=payment.pk)


def wallet_demo_credit(*, wallet_id: int, amount: Money, reference: str) -> LedgerTransaction:
    """Credit a wallet as a deposit posted straight through the ledger (demo data, staff adjustments)."""
    wallet = Wallet.objects.select_related("account").get(pk=wallet_id)
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=wallet.currency)
    tx, _created = _transfer(
        reference=reference,
        kind=LedgerTransaction.Kind.DEPOSIT,
        source=clearing,
        target=wallet.account,
        amount=amount,
        description="demo deposit",
    )
    return tx


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
    wallet = _wallet_for_money(wallet_id=wallet_id, amount=amount, user=user)
    card_token = card_token_check(card_token)
    if card_token not in wallet_funding_cards(wallet=wallet):
        raise WithdrawalCardNotAllowed(field="card_token")
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=wallet.currency)
    with transaction.atomic():
        _wallet_lock_open(wallet_id=wallet.pk)
        withdrawal = Withdrawal.objects.create(
            wallet=wallet,
            amount=amount,
            card_token=card_token,
            attempt_count=1,
            next_retry_at=timezone.now() + _call_lease(),
        )
        _transfer(
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
    result = _gateway().payout(
        idempotency_key=withdrawal.provider_key,
        amount=withdrawal.amount,
        token=withdrawal.card_token,
        reference=f"withdrawal-{withdrawal.pk}",
    )
    _record_attempt(kind=PaymentAttempt.Kind.PAYOUT, result=result, withdrawal=withdrawal)
    return withdrawal_settle(
        withdrawal_id=withdrawal.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
        error=result.error or "",
    )


def withdrawal_settle(*, withdrawal_id: int, outcome: str, provider_id: str = "", error_code: str = "", error: str = ""):
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
        if withdrawal.status == Withdrawal.Status.FAILED and outcome == "succeeded":
            _withdrawal_late_payout(withdrawal, provider_id=provider_id)
            return withdrawal
        if withdrawal.status != Withdrawal.Status.PROCESSING:
            return withdrawal
        withdrawal.last_error_code = error_code or withdrawal.last_error_code
        withdrawal.last_error = error or withdrawal.last_error
        last_attempt = withdrawal.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS
        if outcome == "succeeded":
            withdrawal.status = Withdrawal.Status.SUCCEEDED
            withdrawal.provider_payout_id = provider_id or withdrawal.provider_payout_id
            withdrawal.next_retry_at = None
        elif outcome in ("declined", "not_found") or (outcome == "retryable" and last_attempt):
            clearing = ledger_system_account(
                purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=withdrawal.wallet.currency
            )
            _transfer(
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
            _transfer(
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
    withdrawal.last_error_code = "late_payout"
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
        _round_claim(withdrawal)
    return _withdrawal_retry_claimed(withdrawal)


def _withdrawal_retry_claimed(withdrawal: Withdrawal) -> Withdrawal:
    lookup = _gateway().get_payout(idempotency_key=withdrawal.provider_key)
    _record_attempt(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, withdrawal=withdrawal)
    if lookup.outcome in ("succeeded", "declined"):
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome=lookup.outcome,
            provider_id=lookup.provider_id or "",
            error_code=lookup.error_code or "",
            error=lookup.error or "",
        )
    if lookup.outcome != "not_found":
        # The provider could not be asked: never guess, never send blind; ask again later.
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome="unknown",
            error_code=lookup.error_code or "lookup_failed",
            error=lookup.error or "",
        )
    if withdrawal.attempt_count > settings.PAYMENT_MAX_ATTEMPTS:
        return withdrawal_settle(
            withdrawal_id=withdrawal.pk,
            outcome="not_found",
            error_code="max_attempts",
            error="the provider has no payout for this withdrawal after the last attempt",
        )
    return _withdrawal_send(withdrawal=withdrawal)


# --- payments -----------------------------------------------------------------------


def _payment_new(*, user, purpose, reference, amount: Money, method, card_token="", wallet=None) -> Payment:
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
    _check_amount(amount)
    if purpose not in Payment.Purpose.values:
        raise ValueError(f"unknown payment purpose {purpose!r}")
    if method not in Payment.Method.values:
        raise ValueError(f"unknown payment method {method!r}")
    if method == Payment.Method.CARD:
        card_token = card_token_check(card_token)
    return _payment_new(
        user=user, purpose=purpose, reference=reference, amount=amount, method=method, card_token=card_token
    )


def payment_pay_with_wallet(*, payment_id: int) -> Payment:
    """Pay from the user's wallet in the payment's currency, post the ledger, mark succeeded, call the handler.

    All in one transaction; call it inside the order's transaction so the
    debit and "paid" commit together. Takes the payment row lock, then the
    wallet's. Raises InsufficientFunds / WalletNotFound / WalletClosed, which
    end the caller's transaction too (no savepoint of its own: checkout is hot).
    """
    with transaction.atomic(savepoint=False):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status == Payment.Status.SUCCEEDED:
            return payment
        if payment.is_final:
            raise InvalidTransition()
        currency = payment.amount.currency.code
        wallet = Wallet.objects.select_related("account").filter(user_id=payment.user_id, currency=currency).first()
        if wallet is None:
            raise WalletNotFound()
        if not wallet.is_open:
            raise WalletClosed()
        revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=currency)
        _transfer(
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
        payment.last_error_code = "cancelled"
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
    job owns processing/unknown payments). Fraud velocity rules run first
    (payments.fraud): a refused payment fails, a held one stays pending.
    """
    from payments.fraud import payment_screen

    if payment_screen(payment_id=payment_id):
        return Payment.objects.get(pk=payment_id)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.Status.PENDING:
            return payment
        payment.status = Payment.Status.PROCESSING
        payment.attempt_count += 1
        # If this process dies mid-call, the retry sweep picks the payment up after the lease.
        payment.next_retry_at = timezone.now() + _call_lease()
        payment.save(update_fields=["status", "attempt_count", "next_retry_at", "updated_at"])
    return _payment_charge(payment=payment)


def _payment_charge(*, payment: Payment) -> Payment:
    result = _gateway().charge(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        token=payment.card_token,
        reference=payment.reference,
        description=f"{payment.get_purpose_display()} {payment.reference}",
    )
    _record_attempt(kind=PaymentAttempt.Kind.CHARGE, result=result, payment=payment)
    return payment_settle(
        payment_id=payment.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
        error=result.error or "",
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
    _transfer(
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
    outcome: str,
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
            if outcome == "succeeded" and payment.status == Payment.Status.FAILED:
                _late_charge_refund_open(payment, charge_id=provider_id)
            elif outcome in ("succeeded", "declined") and _outcome_status(outcome) != payment.status:
                logger.warning("payment %s is %s; ignoring later outcome %s", payment.pk, payment.status, outcome)
            return payment
        now = timezone.now()
        if provider_id:
            payment.provider_charge_id = provider_id
        if error_code or error:
            payment.last_error_code = error_code
            payment.last_error = error
        if outcome == "succeeded":
            _post_payment_success(payment)
            payment.status = Payment.Status.SUCCEEDED
            payment.settled_at = now
            payment.next_retry_at = None
            payment.save()
            handlers.notify_succeeded(payment)
            return payment
        if outcome == "declined":
            _payment_fail(payment, notify=notify_on_failure)
            return payment
        if outcome == "not_found" or (outcome == "retryable" and payment.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS):
            payment.last_error_code = payment.last_error_code or "max_attempts"
            _payment_fail(payment, notify=True)
            return payment
        if outcome == "retryable":
            payment.status = Payment.Status.PROCESSING
            if payment.last_error_code == "":
                payment.last_error_code = outcome
        else:
            # Unknown stays unknown until the provider answers, however long that takes.
            payment.status = Payment.Status.UNKNOWN
        payment.next_retry_at = now + retry_delay(payment.attempt_count)
        payment.save()
        return payment


def _outcome_status(outcome: str) -> str:
    return Payment.Status.SUCCEEDED if outcome == "succeeded" else Payment.Status.FAILED


def _payment_fail(payment: Payment, *, notify: bool) -> None:
    payment.status = Payment.Status.FAILED
    payment.settled_at = timezone.now()
    payment.next_retry_at = None
    if payment.purpose == Payment.Purpose.WALLET_DEPOSIT:
        if notify:
            from payments.tasks import send_payment_failed_email

            payment_id = payment.pk
            # A lost kick is sent by the retry job's sweep (payment_failure_notify_pending).
            transaction.on_commit(lambda: send_payment_failed_email.delay(payment_id), robust=True)
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
    _transfer(
        reference=f"late-charge:{payment.uid}",
        kind=LedgerTransaction.Kind.REFUND,
        source=ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency),
        target=ledger_system_account(purpose=LedgerAccount.Purpose.REFUNDS_PAYABLE, currency=currency),
        amount=payment.amount,
        description=f"late charge {payment.reference}",
    )
    from payments.tasks import send_refund

    refund_id = refund.pk
    transaction.on_commit(lambda: send_refund.delay(refund_id), robust=True)
    return refund


def payment_failure_notify(*, payment_id: int) -> bool:
    """E-mail the shopper, once, that a wallet deposit failed; True when this call sent the mail.

    Only wallet deposits: an order's shopper is told by orders (its
    payment-failed handler). The payment row lock is held while the mail is
    sent and `failure_notified_at` is set in the same transaction, so two
    senders at once (the task kicked after the failure, the retry job's sweep)
    send once; a row another sender holds is skipped. A send that raises
    leaves the payment unmarked for the next sweep.
    """
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(
                pk=payment_id,
                status=Payment.Status.FAILED,
                purpose=Payment.Purpose.WALLET_DEPOSIT,
                failure_notified_at__isnull=True,
            )
            .first()
        )
        if payment is None:
            return False
        language = getattr(payment.user, "preferred_language", "") or settings.LANGUAGE_CODE
        with translation.override(language):
            context = {"payment": payment, "user": payment.user}
            subject = render_to_string("payments/email/payment_failed_subject.txt", context).strip()
            body = render_to_string("payments/email/payment_failed.txt", context)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.user.email])
        payment.failure_notified_at = timezone.now()
        payment.save(update_fields=["failure_notified_at", "updated_at"])
    return True


def payment_failure_notify_pending(*, limit: int = 100) -> int:
    """Send the failed-deposit e-mails not sent yet (a lost task, a mail server that was down); returns how many."""
    payment_ids = list(
        Payment.objects.filter(
            status=Payment.Status.FAILED, purpose=Payment.Purpose.WALLET_DEPOSIT, failure_notified_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for payment_id in payment_ids:
        try:
            sent += payment_failure_notify(payment_id=payment_id)
        except Exception:
            logger.exception("telling the shopper that deposit %s failed did not work; next sweep", payment_id)
    return sent


def _round_claim(row) -> None:
    """Count a retry round on a locked payment, payout or refund and lease it past one provider call."""
    row.attempt_count += 1
    row.next_retry_at = timezone.now() + _call_lease()
    row.save(update_fields=["attempt_count", "next_retry_at", "updated_at"])


def payment_retry(*, payment_id: int) -> Payment:
    """One retry round for a processing/unknown payment: ask the provider first, charge again only if it has none.

    Call outside any transaction (HTTP). Claims the round under the payment
    row lock (attempt counted, leased past the provider call). The charge
    reuses the payment's provider key, so the provider can never charge it
    twice.

    When a payment is given up: only when the provider has definitively said
    it holds no charge for our key. After the last attempt
    (PAYMENT_MAX_ATTEMPTS rounds), a lookup answering `not_found` fails the
    payment and we stop charging for good (a charge that still lands later is
    refunded: see _late_charge_refund_open); so does a last charge refused
    before processing right after such a lookup. A lookup that gets no answer
    (provider unreachable, timeout, 5xx) never fails it: the payment stays
    `unknown` (processing ones become unknown) and keeps being looked up with
    a backoff capped at RETRY_MAX_SECONDS (at most hourly), so `next_retry_at`
    keeps it in the retry job's sweep and staff see it as stuck in unknown,
    while its order keeps its stock reserved.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in Payment.OPEN_STATUSES:
            return payment
        _round_claim(payment)
    return _payment_retry_claimed(payment)


def _payment_retry_claimed(payment: Payment) -> Payment:
    gateway = _gateway()
    lookup = gateway.get_charge(idempotency_key=payment.provider_key)
    _record_attempt(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment)
    if lookup.outcome in ("succeeded", "declined"):
        return payment_settle(
            payment_id=payment.pk,
            outcome=lookup.outcome,
            provider_id=lookup.provider_id or "",
            error_code=lookup.error_code or "",
            error=lookup.error or "",
            notify_on_failure=True,
        )
    if lookup.outcome != "not_found":
        # The provider could not be asked: do not charge blind, do not guess; ask again later.
        return payment_settle(
            payment_id=payment.pk,
            outcome="unknown",
            error_code=lookup.error_code or "lookup_failed",
            error=lookup.error or "",
            notify_on_failure=True,
        )
    if payment.attempt_count > settings.PAYMENT_MAX_ATTEMPTS:
        return payment_settle(
            payment_id=payment.pk,
            outcome="not_found",
            error_code="max_attempts",
            error="the provider has no charge for this payment after the last attempt",
            notify_on_failure=True,
        )
    result = gateway.charge(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        token=payment.card_token,
        reference=payment.reference,
        description=f"{payment.get_purpose_display()} {payment.reference}",
    )
    _record_attempt(kind=PaymentAttempt.Kind.CHARGE, result=result, payment=payment)
    return payment_settle(
        payment_id=payment.pk,
        outcome=result.outcome,
        provider_id=result.provider_id or "",
        error_code=result.error_code or "",
        error=result.error or "",
        notify_on_failure=True,
    )


def _round_claim_next(due):
    """Claim the first row of `due` no other worker holds (select_for_update(skip_locked=True)); None when none."""
    with transaction.atomic():
        row = due.select_for_update(skip_locked=True).order_by("next_retry_at", "pk").first()
        if row is not None:
            _round_claim(row)
        return row


def payment_retry_stuck(*, now: datetime | None = None, limit: int = 100) -> int:
    """The retry job: one round for each due processing/unknown card payment, processing payout and pending refund.

    Due means next_retry_at <= `now`. Rows are claimed one at a time: one
    due row is taken with select_for_update(skip_locked=True), its round is
    counted and it is leased (next_retry_at moved past one provider call)
    before its lock is released, and only then is the provider called; so a
    lease covers one call however long the sweep runs, and two workers at
    once never take the same row. A row changed since this sweep began (by
    this or another worker, or a webhook) waits for the next sweep: one
    sweep gives a row at most one round. At most `limit` rounds per kind.
    Then failed deposits whose shopper was not told yet are e-mailed.
    Returns how many rounds ran.
    """
    now = now or timezone.now()
    started = timezone.now()
    kinds = (
        (
            "payment",
            Payment.objects.filter(status__in=Payment.OPEN_STATUSES, method=Payment.Method.CARD),
            _payment_retry_claimed,
        ),
        ("withdrawal", Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING), _withdrawal_retry_claimed),
        ("refund", Refund.objects.filter(status=Refund.Status.PENDING), _refund_retry_claimed),
    )
    rounds = 0
    for label, open_rows, retry in kinds:
        due = open_rows.filter(next_retry_at__lte=now, updated_at__lt=started)
        for _round in range(limit):
            row = _round_claim_next(due)
            if row is None:
                break
            rounds += 1
            try:
                retry(row)
            except Exception:
                logger.exception("retrying %s %s failed", label, row.pk)
    payment_failure_notify_pending(limit=limit)
    return rounds


# --- refunds --------------------------------------------------------------------------


def payment_refund(*, payment_id: int, amount: Money, reference: str, reason: str, actor=None) -> Refund:
    """Give money back the way it came; idempotent per `reference`; one balanced ledger transaction.

    Wallet payments are credited back to the wallet at once. Card payments
    are refunded through the provider (an HTTP call made after the refund row
    is committed when called outside a transaction).
    """
    existing = Refund.objects.filter(reference=reference).first()
    if existing:
        return existing
    _check_amount(amount)
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
                    next_retry_at=timezone.now() + _call_lease(),
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
        lookup = _gateway().get_charge(idempotency_key=payment.provider_key)
        _record_attempt(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment, refund=refund)
        if lookup.outcome != "succeeded" or not lookup.provider_id:
            return refund_settle(refund_id=refund.pk, outcome="unknown", error_code=lookup.error_code or "no_charge_id")
        charge_id = lookup.provider_id
    result = _gateway().refund(
        idempotency_key=refund.provider_key,
        charge_id=charge_id,
        amount=refund.amount,
        reference=refund.reference,
    )
    _record_attempt(kind=PaymentAttempt.Kind.REFUND, result=result, payment=payment, refund=refund)
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
        _round_claim(refund)
    return _refund_retry_claimed(refund)


def _refund_retry_claimed(refund: Refund) -> Refund:
    return _refund_send(refund=refund, payment=Payment.objects.get(pk=refund.payment_id))


def refund_settle(*, refund_id: int, outcome: str, provider_id: str = "", error_code: str = "") -> Refund:
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
        if outcome == "succeeded":
            currency = refund.amount.currency.code
            source = LedgerAccount.Purpose.SHOP_REVENUE
            if refund.kind == Refund.Kind.LATE_CHARGE:
                source = LedgerAccount.Purpose.REFUNDS_PAYABLE
            _transfer(
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
        if outcome == "declined":
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


# --- webhooks, idempotency keys ------------------------------------------------------------


def webhook_event_apply(*, event: dict) -> str:
    """Record a verified provider event once (by id) and apply it through the settle services.

    A success event is applied as it says. A failure event for a payment or
    payout that is not final yet is confirmed first: the provider is asked for
    the charge (payout) by idempotency key, outside any transaction, and what
    it says now is applied. Events arrive out of order (an older failure
    after a newer success of the same key, or a failure the provider no
    longer stands by), and only the provider's current state may fail a
    payment or reverse a payout. When the provider has nothing for the key or
    does not answer, nothing is settled ("unconfirmed"): the row is still in
    the retry job's sweep, which asks again. The event is recorded in the
    transaction that applies it. Returns what happened: "duplicate",
    "ignored", "unconfirmed", or the resulting status.
    """
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    key = str(data.get("idempotency_key") or "")
    confirmation = None
    if event_type in ("charge.failed", "payout.failed") and not WebhookEvent.objects.filter(event_id=event_id).exists():
        confirmation = _webhook_failure_confirm(event_type=event_type, key=key)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(event_id=event_id, type=event_type, payload=event)
        except IntegrityError:
            return "duplicate"
        result = _webhook_event_settle(event_type=event_type, data=data, key=key, confirmation=confirmation)
        record.result = result
        record.save(update_fields=["result"])
        return result


def _webhook_failure_confirm(*, event_type: str, key: str):
    """The provider's current answer for the payment or payout a failure event names; None when it is final here."""
    gateway = _gateway()
    if event_type == "charge.failed":
        payment = Payment.objects.filter(provider_key=key).first() if key else None
        if payment is None or payment.is_final:
            return None
        lookup = gateway.get_charge(idempotency_key=key)
        _record_attempt(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment)
        return lookup
    withdrawal = Withdrawal.objects.filter(uid=_uid_from_key(key, "payout-")).first() if key else None
    if withdrawal is None or withdrawal.status != Withdrawal.Status.PROCESSING:
        return None
    lookup = gateway.get_payout(idempotency_key=key)
    _record_attempt(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, withdrawal=withdrawal)
    return lookup


def _webhook_outcome(*, succeeded: bool, data: dict, confirmation) -> dict | None:
    """What to settle for an event: a success as it says; a failure as the provider now confirms it (None: nothing)."""
    provider_id = str(data.get("id") or "")
    if succeeded:
        return {"outcome": "succeeded", "provider_id": provider_id}
    if confirmation is None:  # final here when the event came: applying it changes nothing
        return {"outcome": "declined", "provider_id": provider_id, "error_code": str(data.get("failure_code") or "")}
    if confirmation.outcome in ("succeeded", "declined"):
        return {
            "outcome": confirmation.outcome,
            "provider_id": confirmation.provider_id or provider_id,
            "error_code": confirmation.error_code or "",
            "error": confirmation.error or "",
        }
    return None


def _webhook_event_settle(*, event_type: str, data: dict, key: str, confirmation) -> str:
    kind, _dot, what = event_type.partition(".")
    if kind == "charge" and what in ("succeeded", "failed"):
        payment = Payment.objects.filter(provider_key=key).first() if key else None
        if payment is None:
            return "ignored"
        settle = _webhook_outcome(succeeded=what == "succeeded", data=data, confirmation=confirmation)
        if settle is None:
            return "unconfirmed"
        return payment_settle(payment_id=payment.pk, notify_on_failure=True, **settle).status
    if kind == "payout" and what in ("succeeded", "failed"):
        withdrawal = Withdrawal.objects.filter(uid=_uid_from_key(key, "payout-")).first() if key else None
        if withdrawal is None:
            return "ignored"
        settle = _webhook_outcome(succeeded=what == "succeeded", data=data, confirmation=confirmation)
        if settle is None:
            return "unconfirmed"
        return withdrawal_settle(withdrawal_id=withdrawal.pk, **settle).status
    if event_type == "refund.succeeded":
        refund = Refund.objects.filter(uid=_uid_from_key(key, "refund-")).first() if key else None
        if refund is None:
            return "ignored"
        return refund_settle(refund_id=refund.pk, outcome="succeeded", provider_id=str(data.get("id") or "")).status
    return "ignored"


def _uid_from_key(key: str, prefix: str):
    if not key.startswith(prefix):
        return None
    try:
        return uuid.UUID(key[len(prefix) :])
    except ValueError:
        return None


def idempotency_key_prune(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete API idempotency keys older than `older_than` (at least 24 hours); returns how many."""
    cutoff = timezone.now() - max(older_than, timedelta(hours=24))
    with transaction.atomic():
        deleted, _detail = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def payment_get(*, payment_id: int) -> Payment:
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound()
    return payment
