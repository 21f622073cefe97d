"""The ledger's own integrity for one day: balanced transactions, zero-sum totals, cached balances (wallets, gift cards)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import DecimalField, Model, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from payments.models import (
    GiftCard,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    ReconciliationItem,
    Wallet,
)
from payments.reconciliation.items import ItemWriter
from shop.core.reconciliation import BATCH, as_decimal, day_bounds, merge_sums

Kind = ReconciliationItem.Kind
Action = ReconciliationItem.Action
_DEC = DecimalField(max_digits=24, decimal_places=4)


def check_ledger(day: date, out: ItemWriter) -> dict:
    """Every transaction of the day balances, the whole ledger nets to zero, every wallet and gift card equals its entries."""
    start, end = day_bounds(day)
    day_entries = LedgerEntry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
    explained = _unbalanced_transactions(day_entries, out)
    entries_checked = day_entries.count()
    _ledger_totals(end, explained, out)
    _cached_balances(_WALLETS, out)
    _cached_balances(_GIFT_CARDS, out)
    _gift_card_liability(out)
    return {
        "ledger_entries": entries_checked,
        "wallets": Wallet.objects.count(),
        "gift_cards": GiftCard.objects.count(),
    }


def _transaction_reference(pk: int) -> str:
    return LedgerTransaction.objects.filter(pk=pk).values_list("reference", flat=True).first() or ""


def _unbalanced_transactions(day_entries, out: ItemWriter) -> dict[str, Decimal]:
    """The day's transactions whose entries do not sum to zero; returns their sum per currency."""
    unbalanced = (
        day_entries.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transaction_id", "currency")
    )
    explained: dict[str, Decimal] = {}
    for row in unbalanced.iterator(chunk_size=BATCH):
        explained[row["currency"]] = explained.get(row["currency"], Decimal(0)) + row["total"]
        out.add(
            kind=Kind.TRANSACTION_UNBALANCED,
            action=Action.INVESTIGATE_LEDGER,
            object_type="payments.ledgertransaction",
            object_id=row["transaction_id"],
            related=_transaction_reference(row["transaction_id"]),
            currency=row["currency"],
            expected=Decimal(0),
            actual=row["total"],
            detail=_("The entries of this transaction do not sum to zero."),
        )
    return explained


def _ledger_totals(end, explained: dict[str, Decimal], out: ItemWriter) -> None:
    """Total credits against total debits per currency up to `end`, less what the day's transactions explain."""
    totals = (
        LedgerEntry.objects.filter(transaction__created_at__lt=end)
        .values("currency")
        .annotate(
            debits=Coalesce(Sum("amount", filter=Q(amount__lt=0)), Value(Decimal(0)), output_field=_DEC),
            credits=Coalesce(Sum("amount", filter=Q(amount__gt=0)), Value(Decimal(0)), output_field=_DEC),
        )
        .order_by("currency")
    )
    for row in totals:
        residual = row["credits"] + row["debits"] - explained.get(row["currency"], Decimal(0))
        if residual != 0:
            out.add(
                kind=Kind.LEDGER_TOTALS,
                action=Action.INVESTIGATE_LEDGER,
                object_type="ledger",
                object_id=row["currency"],
                currency=row["currency"],
                expected=-row["debits"],
                actual=row["credits"],
                detail=_("Total credits differ from total debits by %(amount)s (not explained by this day).")
                % {"amount": residual.quantize(Decimal("0.01"))},
            )


@dataclass(frozen=True)
class _CachedBalances:
    """One kind of stored-value account whose cached `balance` must equal its ledger entries."""

    model: type[Model]
    purpose: str
    kind: str
    object_type: str
    owner_field: str
    owner: Callable[[dict], str]
    detail: str


_WALLETS = _CachedBalances(
    model=Wallet,
    purpose=LedgerAccount.Purpose.CUSTOMER_WALLET,
    kind=Kind.WALLET_BALANCE,
    object_type="payments.wallet",
    owner_field="user_id",
    owner=lambda row: f"user {row['user_id']}",
    detail=_("The wallet's cached balance differs from the sum of its ledger entries."),
)
# The shop's gift-card liability, card by card.
_GIFT_CARDS = _CachedBalances(
    model=GiftCard,
    purpose=LedgerAccount.Purpose.GIFT_CARD,
    kind=Kind.GIFT_CARD_BALANCE,
    object_type="payments.giftcard",
    owner_field="last4",
    owner=lambda row: f"card ···{row['last4']}",
    detail=_("The gift card's cached balance differs from the sum of its ledger entries."),
)


def _cached_balances(spec: _CachedBalances, out: ItemWriter) -> None:
    """Each account's cached balance against the sum of its ledger entries (two streams merged by account)."""
    rows = (
        spec.model.objects.values("id", spec.owner_field, "account_id", "currency", "balance")
        .order_by("account_id")
        .iterator(chunk_size=BATCH)
    )
    sums = (
        LedgerEntry.objects.filter(account__purpose=spec.purpose)
        .values("account_id")
        .annotate(total=Sum("amount"))
        .order_by("account_id")
        .iterator(chunk_size=BATCH)
    )
    for row, totals in merge_sums(rows, "account_id", entries=sums):
        total = as_decimal(totals["entries"])
        if row["balance"] != total:
            out.add(
                kind=spec.kind,
                action=Action.INVESTIGATE_LEDGER,
                object_type=spec.object_type,
                object_id=row["id"],
                related=f"account {row['account_id']}, {spec.owner(row)}",
                currency=row["currency"],
                expected=total,
                actual=row["balance"],
                detail=spec.detail,
            )


def _gift_card_liability(out: ItemWriter) -> None:
    """The shop's gift-card liability (the entries of every gift-card account) is all on the cards' accounts.

    With `_cached_balances` (each card's balance equals its account's entries) this proves the liability
    equals the sum of the cards' balances; here the entries on a gift-card account no card owns, which
    no card's check would see, are reported per currency (expected: the liability, actual: the cards' part).
    """
    rows = (
        LedgerEntry.objects.filter(account__purpose=LedgerAccount.Purpose.GIFT_CARD)
        .values("currency")
        .annotate(
            liability=Sum("amount"),
            cards=Coalesce(Sum("amount", filter=Q(account__gift_card__isnull=False)), Value(Decimal(0)),
                           output_field=_DEC),
        )
        .order_by("currency")
    )
    for row in rows:
        liability, cards = as_decimal(row["liability"]), as_decimal(row["cards"])
        if liability != cards:
            out.add(
                kind=Kind.GIFT_CARD_BALANCE,
                action=Action.INVESTIGATE_LEDGER,
                object_type="ledger",
                object_id=f"gift_card_liability:{row['currency']}",
                currency=row["currency"],
                expected=liability,
                actual=cards,
                detail=_("The gift-card liability on the ledger differs from the sum of the cards' balances."),
            )
