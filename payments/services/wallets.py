"""Wallets: open, close, and the money movements into and out of them that stay inside the shop.

Lock order: payment row, then wallet rows (through ledger_post).
"""


from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.breaker import breaker_refuse_if_open
from payments.exceptions import (
    CurrencyMismatch,
    DepositLimitExceeded,
    EmailNotVerified,
    PaymentErrorCode,
    UnsupportedCurrency,
    WalletClosed,
    WalletExists,
    WalletNotFound,
)
from payments.idempotency import idempotency_key_attach
from payments.models import (
    IdempotencyKey,
    LedgerAccount,
    LedgerTransaction,
    Payment,
    Wallet,
    Withdrawal,
)
from payments.selectors import card_token_check, user_has_verified_email
from payments.services.attempts import amount_check
from payments.services.charges import payment_charge_card, payment_new
from payments.services.ledger import Leg, ledger_post, ledger_system_account, ledger_transfer
from shop.core.money import money_to_dict


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


def wallet_for_money(*, wallet_id: int, amount: Money, user=None) -> Wallet:
    """The open wallet (of `user`, when given) that `amount` may move in or out of; refuses otherwise."""
    amount_check(amount)
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


def wallet_lock_open(*, wallet_id: int) -> Wallet:
    """Lock the wallet row and check it is still open (wallet_close may have won the race)."""
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    if not wallet.is_open:
        raise WalletClosed()
    return wallet


def wallet_debit(*, wallet_id: int, amount: Money, reference: str, description: str = "") -> LedgerTransaction:
    """Move money from the wallet to shop revenue (an order paid by wallet); guarded, never negative."""
    wallet = wallet_for_money(wallet_id=wallet_id, amount=amount)
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=wallet.currency)
    tx, _created = ledger_transfer(
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
    amount_check(amount)
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
    and a non-token (InvalidCardToken, 400) before anything is written, and
    so while the provider's breaker is open (ProviderUnavailable, 503).
    `idempotency_claim` (the API request's Idempotency-Key claim) is given the
    payment in the transaction that creates it, before the card is charged,
    so a replay after a crash answers from this payment instead of paying again.
    """
    wallet = wallet_for_money(wallet_id=wallet_id, amount=amount, user=user)
    limit = Money(settings.WALLET_MAX_DEPOSIT, wallet.currency)
    if amount > limit:
        raise DepositLimitExceeded(
            _("A single deposit can be at most %(limit)s.") % {"limit": limit}, field="amount", limit=money_to_dict(limit)
        )
    card_token = card_token_check(card_token)
    breaker_refuse_if_open()  # the provider is down: refused before a payment is made
    with transaction.atomic():
        wallet_lock_open(wallet_id=wallet.pk)
        payment = payment_new(
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
    tx, _created = ledger_transfer(
        reference=reference,
        kind=LedgerTransaction.Kind.DEPOSIT,
        source=clearing,
        target=wallet.account,
        amount=amount,
        description="demo deposit",
    )
    return tx
