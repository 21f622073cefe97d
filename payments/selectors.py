"""Reads of the payments app; ownership checks live here (another user's object is not found)."""

import hashlib
import hmac
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from djmoney.money import Money

from accounts.selectors import user_has_verified_email as accounts_user_has_verified_email
from payments.exceptions import GiftCardInvalid, InvalidCardToken, PaymentNotFound, WalletNotFound
from payments.models import (
    GiftCard,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentHold,
    Wallet,
    Withdrawal,
)

# A provider's card token; card numbers (or anything else) never enter our system.
CARD_TOKEN_RE = re.compile(r"tok_[A-Za-z0-9_]{1,60}")


def card_token_check(token) -> str:
    """The token, stripped, if it looks like a provider card token; InvalidCardToken (400) otherwise."""
    token = token.strip() if isinstance(token, str) else ""
    if not CARD_TOKEN_RE.fullmatch(token):
        raise InvalidCardToken(field="card_token")
    return token


def user_has_verified_email(*, user) -> bool:
    """Whether the user confirmed an e-mail address (wallets need one)."""
    return accounts_user_has_verified_email(user)


def wallet_list_for_user(*, user) -> QuerySet[Wallet]:
    """The user's wallets, by currency."""
    return Wallet.objects.filter(user=user).select_related("account").order_by("currency")


def wallet_get_for_user(*, user, wallet_id) -> Wallet:
    """The user's wallet `wallet_id`; WalletNotFound for anyone else's."""
    wallet = wallet_list_for_user(user=user).filter(pk=wallet_id).first()
    if wallet is None:
        raise WalletNotFound()
    return wallet


def wallet_get_for_currency(*, user, currency: str) -> Wallet | None:
    """The user's wallet in `currency`, if any."""
    return wallet_list_for_user(user=user).filter(currency=currency).first()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def wallet_statement(
    *, wallet: Wallet, start: date | None = None, end: date | None = None
) -> QuerySet[LedgerEntry]:
    """The wallet's entries, newest first, from `start` to `end` (both days included)."""
    entries = (
        LedgerEntry.objects.filter(account_id=wallet.account_id)
        .select_related("transaction")
        .order_by("-transaction__created_at", "-id")
    )
    if start:
        entries = entries.filter(transaction__created_at__gte=_day_start(start))
    if end:
        entries = entries.filter(transaction__created_at__lt=_day_start(end + timedelta(days=1)))
    return entries


def wallet_balance_at(*, wallet: Wallet, before: date) -> Decimal:
    """The wallet's balance at the start of day `before` (opening balance of a statement)."""
    total = LedgerEntry.objects.filter(
        account_id=wallet.account_id, transaction__created_at__lt=_day_start(before)
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def account_balance(*, account: LedgerAccount) -> Decimal:
    """An account's balance: the sum of its entries."""
    return LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or Decimal("0")


def ledger_unbalanced_transactions() -> QuerySet[LedgerTransaction]:
    """Transactions whose entries do not sum to zero in some currency (should be empty)."""
    bad_ids = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .values("transaction_id")
    )
    return LedgerTransaction.objects.filter(pk__in=bad_ids)


def _with_wrong_cached_balance(queryset: QuerySet) -> list:
    """Rows of `queryset` (wallets or gift cards) whose cached balance differs from their account's entries.

    One statement, so one snapshot: a posting committed meanwhile never shows as a mismatch.
    """
    summed = (
        LedgerEntry.objects.filter(account_id=OuterRef("account_id"))
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    amount = DecimalField(max_digits=24, decimal_places=4)
    return list(
        queryset.annotate(
            summed=Coalesce(Subquery(summed, output_field=amount), Value(Decimal("0")), output_field=amount)
        )
        .exclude(balance=F("summed"))
        .order_by("pk")
    )


def wallets_with_wrong_cached_balance() -> list[Wallet]:
    """Wallets whose cached balance differs from the sum of their entries (should be empty)."""
    return _with_wrong_cached_balance(Wallet.objects.select_related("account"))


def payment_get_for_user(*, user, payment_id) -> Payment:
    """The user's payment with its attempts; PaymentNotFound for anyone else's."""
    payment = Payment.objects.filter(user=user, pk=payment_id).prefetch_related("attempts").first()
    if payment is None:
        raise PaymentNotFound()
    return payment


def payment_is_held(*, payment: Payment) -> bool:
    """Whether a fraud rule holds the payment for staff review (it is not charged until released)."""
    return PaymentHold.objects.filter(payment=payment, status=PaymentHold.Status.HELD).exists()


def payments_for_wallet(*, wallet: Wallet) -> QuerySet[Payment]:
    """Deposits into the wallet, newest first."""
    return Payment.objects.filter(wallet=wallet, purpose=Payment.Purpose.WALLET_DEPOSIT).order_by(
        "-created_at"
    )


def wallet_funding_cards(*, wallet: Wallet) -> list[str]:
    """Card tokens that funded a succeeded deposit into the wallet, most recently used first.

    A withdrawal goes back to one of these cards only.
    """
    tokens = (
        Payment.objects.filter(
            wallet=wallet,
            purpose=Payment.Purpose.WALLET_DEPOSIT,
            method=Payment.Method.CARD,
            status=Payment.Status.SUCCEEDED,
        )
        .exclude(card_token="")
        .order_by("-created_at", "-id")
        .values_list("card_token", flat=True)
    )
    return list(dict.fromkeys(tokens))


def recent_activity_for_user(*, user, limit: int = 10) -> dict:
    """The user's latest deposits and withdrawals, newest first, for the wallet overview."""
    return {
        "deposits": list(
            Payment.objects.filter(user=user, purpose=Payment.Purpose.WALLET_DEPOSIT).order_by("-created_at")[
                :limit
            ]
        ),
        "withdrawals": list(
            Withdrawal.objects.filter(wallet__user=user)
            .select_related("wallet")
            .order_by("-created_at")[:limit]
        ),
    }


def withdrawal_get_for_user(*, user, withdrawal_id) -> Withdrawal:
    """The user's withdrawal; WalletNotFound-like 404 for anyone else's."""
    withdrawal = (
        Withdrawal.objects.filter(wallet__user=user, pk=withdrawal_id).select_related("wallet").first()
    )
    if withdrawal is None:
        raise PaymentNotFound()
    return withdrawal


def payment_get(*, payment_id: int) -> Payment:
    """The payment with this id; PaymentNotFound (404) when there is none."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound()
    return payment


def gift_card_code_normalize(code) -> str:
    """The code as issued: upper case, without the spaces and dashes people type between groups."""
    return re.sub(r"[\s-]", "", code).upper() if isinstance(code, str) else ""


def gift_card_code_hash(code: str) -> str:
    """SHA-256 of the normalised code: what is stored and looked up (the code itself is never stored)."""
    return hashlib.sha256(gift_card_code_normalize(code).encode()).hexdigest()


def gift_card_get_by_code(*, code: str, currency: str | None = None, now: datetime | None = None) -> GiftCard:
    """The usable gift card with `code` (in `currency`, when given); GiftCardInvalid for anything else.

    Looked up by the code's hash, then compared in constant time. Unknown,
    switched off, expired and other-currency cards get the same answer, so an
    answer tells a guesser nothing; callers rate-limit the attempts.
    """
    digest = gift_card_code_hash(code)
    card = GiftCard.objects.select_related("account").filter(code_hash=digest).first()
    if card is None or not hmac.compare_digest(card.code_hash, digest):
        raise GiftCardInvalid(field="code")
    if not card.is_usable(now) or (currency is not None and card.currency != currency):
        raise GiftCardInvalid(field="code")
    return card


def gift_cards_with_wrong_cached_balance() -> list[GiftCard]:
    """Gift cards whose cached balance differs from the sum of their entries (should be empty)."""
    return _with_wrong_cached_balance(GiftCard.objects.all())


def statement_words(tx: LedgerTransaction, amount: Decimal) -> str:
    """What a wallet movement was, in the shopper's words (no internal references)."""
    kind, text = tx.kind, tx.description or ""
    Kind = LedgerTransaction.Kind
    order = re.match(r"^(?:order|Order) (\S+)$", text)
    if kind == Kind.DEPOSIT:
        return gettext("Top-up by card") if "demo" not in text else gettext("Welcome credit")
    if kind == Kind.PURCHASE:
        return gettext("Payment for order %(number)s") % {"number": order.group(1)} if order else gettext("Payment")
    if kind == Kind.REFUND:
        return gettext("Refund to your wallet")
    if kind == Kind.WITHDRAWAL:
        return gettext("Withdrawal to your card")
    if kind == Kind.REVERSAL:
        return gettext("Withdrawal returned to your wallet") if amount > 0 else gettext("Correction")
    if kind == Kind.ADJUSTMENT:
        return gettext("Credit from customer service") if amount > 0 else gettext("Correction by customer service")
    return tx.get_kind_display()


def wallet_activity(*, wallet: Wallet, limit: int = 20) -> list[dict]:
    """The wallet's latest movements, newest first, each with a human description and the balance
    after it (counted back from the current balance, so the list explains the balance shown)."""
    entries = list(wallet_statement(wallet=wallet)[:limit])
    balance = wallet.balance
    rows = []
    for entry in entries:
        rows.append(
            {
                "date": entry.transaction.created_at,
                "description": statement_words(entry.transaction, entry.amount),
                "kind": entry.transaction.get_kind_display(),
                "amount": entry.money,
                "balance": Money(balance, wallet.currency),
            }
        )
        balance -= entry.amount
    return rows
