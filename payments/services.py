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
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
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
from shop.exceptions import InvalidTransition
from shop.money import minor_unit_quantum, money_to_dict

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
    """Exponential backoff with full jitter: 30 s * 2^(n-1), capped, then a random share of it."""
    ceiling = min(RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0)), RETRY_MAX_SECONDS)
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
        existing = LedgerTransaction.objects.filter(reference=reference).first()
        if existing:
            return _ledger_replay(existing, legs), False
        try:
            with transaction.atomic():
                tx = LedgerTransaction.objects.create(reference=reference, kind=kind, description=description[:255])
        except IntegrityError:
            # A concurrent posting of the same reference won; it is the one.
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
                code="wallet_has_pending_payments",
            )
        if wallet.balance != 0:
            raise WalletClosed(_("Only an empty wallet can be closed."), code="wallet_not_empty")
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
    """Apply a payout outcome once: succeeded is final; declined reverses the debit; else retry later."""
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().select_related("wallet__account").get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.PROCESSING:
            return withdrawal
        if outcome == "succeeded":
            withdrawal.status = Withdrawal.Status.SUCCEEDED
            withdrawal.provider_payout_id = provider_id or withdrawal.provider_payout_id
            withdrawal.next_retry_at = None
        elif outcome == "declined" or withdrawal.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS:
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
        withdrawal.last_error_code = error_code or withdrawal.last_error_code
        withdrawal.last_error = error or withdrawal.last_error
        withdrawal.save()
        return withdrawal


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
    with transaction.atomic():
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
    wallet's. Raises InsufficientFunds / WalletNotFound / WalletClosed.
    """
    with transaction.atomic():
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
        payment.save()
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

    Used for the synchronous answer, the retry job's lookups and webhooks. A
    final state is final (a late `charge.failed` never un-succeeds a payment);
    success posts the ledger transaction exactly once (reference-unique) and
    calls the handler in the same transaction. `retryable`/`unknown` outcomes
    schedule a retry with backoff, or fail the payment after the last attempt.
    Takes the payment row lock.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.is_final:
            if outcome == "succeeded" and payment.status == Payment.Status.FAILED:
                # The provider charged after the shop gave up: the failure stays (handlers
                # already ran), and the money goes back to the card, once.
                logger.error("payment %s failed here but the provider charged it; refunding", payment.pk)
                from payments.tasks import reverse_late_charge

                charge_id = provider_id
                transaction.on_commit(lambda: reverse_late_charge.delay(payment_id, charge_id))
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
        if payment.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS:
            payment.last_error_code = payment.last_error_code or "max_attempts"
            _payment_fail(payment, notify=True)
            return payment
        payment.status = Payment.Status.UNKNOWN if outcome == "unknown" else Payment.Status.PROCESSING
        # An unknown outcome stays unknown until the provider says otherwise.
        if payment.status == Payment.Status.PROCESSING and payment.last_error_code == "":
            payment.last_error_code = outcome
        payment.next_retry_at = now + retry_delay(payment.attempt_count)
        payment.save()
        return payment


def _outcome_status(outcome: str) -> str:
    return Payment.Status.SUCCEEDED if outcome == "succeeded" else Payment.Status.FAILED


def _payment_fail(payment: Payment, *, notify: bool) -> None:
    payment.status = Payment.Status.FAILED
    payment.settled_at = timezone.now()
    payment.next_retry_at = None
    payment.save()
    handlers.notify_failed(payment)
    if notify:
        from payments.tasks import send_payment_failed_email

        payment_id = payment.pk
        transaction.on_commit(lambda: send_payment_failed_email.delay(payment_id))


def payment_reverse_late_charge(*, payment_id: int, charge_id: str) -> PaymentAttempt:
    """Refund a charge the provider made for a payment that had already failed here.

    Makes an HTTP call: call outside any transaction. The refund key is
    derived from the payment, so the provider refunds at most once. Nothing
    is posted to the ledger: the charge was never booked, and its refund
    cancels it at the provider.
    """
    payment = Payment.objects.get(pk=payment_id)
    result = _gateway().refund(
        idempotency_key=f"late-charge-{payment.uid}",
        charge_id=charge_id or payment.provider_charge_id,
        amount=payment.amount,
        reference=f"late-{payment.reference}",
    )
    return _record_attempt(kind=PaymentAttempt.Kind.REFUND, result=result, payment=payment)


def payment_retry(*, payment_id: int) -> Payment:
    """One retry round for a processing/unknown payment: ask the provider first, charge again only if it has none.

    Call outside any transaction (HTTP). The charge reuses the payment's
    provider key, so the provider can never charge it twice.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in Payment.OPEN_STATUSES:
            return payment
        payment.attempt_count += 1
        payment.next_retry_at = timezone.now() + _call_lease()
        payment.save(update_fields=["attempt_count", "next_retry_at", "updated_at"])
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
        # The provider could not be asked; do not charge blind.
        return payment_settle(
            payment_id=payment.pk,
            outcome="unknown" if payment.status == Payment.Status.UNKNOWN else "retryable",
            error_code=lookup.error_code or "lookup_failed",
            error=lookup.error or "",
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


def payment_retry_stuck(*, now: datetime | None = None, limit: int = 100) -> int:
    """Retry every processing/unknown payment (and payout, and card refund) whose next_retry_at has passed.

    Rows are claimed with select_for_update(skip_locked=True) and leased by
    moving next_retry_at forward before the lock is released, so two workers
    running at once never take the same row. Returns how many were retried.
    """
    now = now or timezone.now()
    lease_until = timezone.now() + _call_lease()
    with transaction.atomic():
        payment_ids = list(
            Payment.objects.select_for_update(skip_locked=True)
            .filter(status__in=Payment.OPEN_STATUSES, method=Payment.Method.CARD, next_retry_at__lte=now)
            .order_by("next_retry_at")
            .values_list("pk", flat=True)[:limit]
        )
        Payment.objects.filter(pk__in=payment_ids).update(next_retry_at=lease_until)
        withdrawal_ids = list(
            Withdrawal.objects.select_for_update(skip_locked=True)
            .filter(status=Withdrawal.Status.PROCESSING, next_retry_at__lte=now)
            .order_by("next_retry_at")
            .values_list("pk", flat=True)[:limit]
        )
        Withdrawal.objects.filter(pk__in=withdrawal_ids).update(next_retry_at=lease_until)
        refund_ids = list(
            Refund.objects.select_for_update(skip_locked=True)
            .filter(status=Refund.Status.PENDING, next_retry_at__lte=now)
            .order_by("next_retry_at")
            .values_list("pk", flat=True)[:limit]
        )
        Refund.objects.filter(pk__in=refund_ids).update(next_retry_at=lease_until)
    for payment_id in payment_ids:
        try:
            payment_retry(payment_id=payment_id)
        except Exception:
            logger.exception("retrying payment %s failed", payment_id)
    for withdrawal_id in withdrawal_ids:
        try:
            withdrawal_retry(withdrawal_id=withdrawal_id)
        except Exception:
            logger.exception("retrying withdrawal %s failed", withdrawal_id)
    for refund_id in refund_ids:
        try:
            refund_retry(refund_id=refund_id)
        except Exception:
            logger.exception("retrying refund %s failed", refund_id)
    return len(payment_ids) + len(withdrawal_ids) + len(refund_ids)


def withdrawal_retry(*, withdrawal_id: int) -> Withdrawal:
    """Send a processing payout again with the same key (the provider answers with the first result)."""
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.PROCESSING:
            return withdrawal
        withdrawal.attempt_count += 1
        withdrawal.next_retry_at = timezone.now() + _call_lease()
        withdrawal.save(update_fields=["attempt_count", "next_retry_at", "updated_at"])
    return _withdrawal_send(withdrawal=withdrawal)


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
    result = _gateway().refund(
        idempotency_key=refund.provider_key,
        charge_id=payment.provider_charge_id,
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
    """Send a pending card refund again with the same key (the provider refunds at most once)."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        refund.attempt_count += 1
        refund.next_retry_at = timezone.now() + _call_lease()
        refund.save(update_fields=["attempt_count", "next_retry_at", "updated_at"])
    return _refund_send(refund=refund, payment=Payment.objects.get(pk=refund.payment_id))


def refund_settle(*, refund_id: int, outcome: str, provider_id: str = "", error_code: str = "") -> Refund:
    """Apply a provider's refund outcome once; success posts revenue -> clearing.

    A refused refund fails; an unanswered one is retried with backoff and,
    after the last attempt, fails for staff to look at. Takes the refund's
    and then the payment's row lock.
    """
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund.last_error_code = error_code or refund.last_error_code
        if outcome == "succeeded":
            currency = refund.amount.currency.code
            _transfer(
                reference=refund.ledger_reference,
                kind=LedgerTransaction.Kind.REFUND,
                source=ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=currency),
                target=ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency=currency),
                amount=refund.amount,
                description=f"refund {refund.reference}",
            )
            refund.provider_refund_id = provider_id
            refund.next_retry_at = None
            _refund_complete(payment, refund)
            return refund
        if outcome == "declined" or refund.attempt_count >= settings.PAYMENT_MAX_ATTEMPTS:
            refund.status = Refund.Status.FAILED
            refund.next_retry_at = None
            logger.error("refund %s failed at the provider (%s)", refund.reference, refund.last_error_code or outcome)
        else:
            refund.next_retry_at = timezone.now() + retry_delay(refund.attempt_count)
        refund.save(update_fields=["status", "next_retry_at", "last_error_code", "updated_at"])
        return refund


def _refund_complete(payment: Payment, refund: Refund) -> None:
    refund.status = Refund.Status.SUCCEEDED
    refund.next_retry_at = None
    refund.save(update_fields=["status", "provider_refund_id", "next_retry_at", "updated_at"])
    payment.refunded_amount = payment.refunded_amount + refund.amount.amount
    payment.status = (
        Payment.Status.REFUNDED if payment.refunded_amount >= payment.amount.amount else Payment.Status.PARTIALLY_REFUNDED
    )
    payment.save(update_fields=["refunded_amount", "status", "updated_at"])
    handlers.notify_refunded(payment, refund)


# --- webhooks, idempotency keys ------------------------------------------------------------


def webhook_event_apply(*, event: dict) -> str:
    """Record a verified provider event once (by id) and apply it through the settle services.

    Returns what happened: "duplicate", "ignored", or the resulting status.
    """
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(event_id=event_id, type=event_type, payload=event)
        except IntegrityError:
            return "duplicate"
        result = "ignored"
        key = str(data.get("idempotency_key") or "")
        if event_type in ("charge.succeeded", "charge.failed"):
            payment = Payment.objects.filter(provider_key=key).first() if key else None
            if payment is not None:
                outcome = "succeeded" if event_type == "charge.succeeded" else "declined"
                payment = payment_settle(
                    payment_id=payment.pk,
                    outcome=outcome,
                    provider_id=str(data.get("id") or ""),
                    error_code=str(data.get("failure_code") or "") if outcome == "declined" else "",
                    notify_on_failure=True,
                )
                result = payment.status
        elif event_type == "refund.succeeded":
            refund = Refund.objects.filter(uid=_uid_from_key(key, "refund-")).first() if key else None
            if refund is not None:
                result = refund_settle(refund_id=refund.pk, outcome="succeeded", provider_id=str(data.get("id", ""))).status
        elif event_type == "payout.succeeded":
            withdrawal = Withdrawal.objects.filter(uid=_uid_from_key(key, "payout-")).first() if key else None
            if withdrawal is not None:
                result = withdrawal_settle(
                    withdrawal_id=withdrawal.pk, outcome="succeeded", provider_id=str(data.get("id", ""))
                ).status
        record.result = result
        record.save(update_fields=["result"])
        return result


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
