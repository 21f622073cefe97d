"""Gift cards: issue, spend on an order, refund back; their value lives on the ledger.

Each card has its own ledger account (purpose `gift_card`, no owner), so a
card's value is a balanced posting like any other and reconciliation checks
its cached balance against its entries as it does for wallets:

| event                     | from                | to                   | reference                              |
|---------------------------|---------------------|----------------------|----------------------------------------|
| issued by staff           | gift-card funding   | the card             | giftcard:<id>:issue                    |
| sold (paid order line)    | shop revenue        | the card             | giftcard:<id>:issue                    |
| spent on an order         | the card            | shop revenue         | giftcard:<id>:spend:<order ref>        |
| refunded to the card      | shop revenue        | the card             | giftcard:<id>:refund:<order ref>:<ref> |

Spending is guarded in ledger_post (`balance >= amount`), so two orders
spending one card at once never take it below zero: the second's UPDATE
waits for the first's row lock, re-reads the balance and, if too low, undoes
its posting with GiftCardInsufficient (402).

Lock order: the gift card row (refunds take it first), then nothing else;
ledger_post's guarded UPDATE touches the same row.
"""

import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.exceptions import CurrencyMismatch, GiftCardInvalid, RefundNotAllowed
from payments.models import GiftCard, LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import gift_card_code_hash
from payments.services.attempts import amount_check
from payments.services.ledger import ledger_system_account, ledger_transfer

# 20 characters from 32 unambiguous ones (no 0/O, 1/I): 100 bits, shown in groups of four.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 20


@dataclass(frozen=True)
class IssuedGiftCard:
    """A card just issued with its code (shown or e-mailed once), or a replay of the reference (code None)."""

    card: GiftCard
    code: str | None


def gift_card_code_new() -> str:
    """A fresh random code, e.g. `K7QD-M2XA-...`: the bearer's only proof, never stored."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def gift_card_issue(
    *, amount: Money, source: str, issue_reference: str, issued_by=None, expires_at=None
) -> IssuedGiftCard:
    """Issue a card worth `amount`, funded by staff (gift-card funding) or by a sale (shop revenue).

    Idempotent per `issue_reference` (a staff action's or a paid order line's
    reference): a replay returns the card issued first, without its code.
    """
    amount_check(amount)
    currency = amount.currency.code
    existing = GiftCard.objects.filter(issue_reference=issue_reference).first()
    if existing is not None:
        return IssuedGiftCard(card=existing, code=None)
    funding = (
        LedgerAccount.Purpose.GIFT_CARD_FUNDING
        if source == GiftCard.Source.STAFF
        else LedgerAccount.Purpose.SHOP_REVENUE
    )
    code = gift_card_code_new()
    try:
        with transaction.atomic():
            account = LedgerAccount.objects.create(
                user=None, purpose=LedgerAccount.Purpose.GIFT_CARD, currency=currency
            )
            card = GiftCard.objects.create(
                code_hash=gift_card_code_hash(code),
                last4=code[-4:],
                currency=currency,
                account=account,
                initial_amount=amount.amount,
                source=source,
                issue_reference=issue_reference,
                issued_by=issued_by,
                expires_at=expires_at,
            )
            ledger_transfer(
                reference=f"giftcard:{card.pk}:issue",
                kind=LedgerTransaction.Kind.DEPOSIT,
                source=ledger_system_account(purpose=funding, currency=currency),
                target=account,
                amount=amount,
                description=f"gift card ···{card.last4} issued ({source})",
            )
    except IntegrityError:
        # A concurrent issue of the same reference won the unique constraint.
        return IssuedGiftCard(card=GiftCard.objects.get(issue_reference=issue_reference), code=None)
    card.refresh_from_db(fields=["balance"])
    return IssuedGiftCard(card=card, code=code)


def gift_card_redeem(*, gift_card_id: int, amount: Money, reference: str) -> LedgerTransaction:
    """Spend `amount` of a card on order `reference` (card -> shop revenue), once per (card, order).

    Refuses a card that is switched off or expired (GiftCardInvalid) and a
    balance that is too low, also when a concurrent spend took it
    (GiftCardInsufficient, 402). Locks the card row until the caller's
    transaction ends.
    """
    amount_check(amount)
    card = GiftCard.objects.select_related("account").filter(pk=gift_card_id).first()
    if card is None or not card.is_usable():
        raise GiftCardInvalid()
    if card.currency != amount.currency.code:
        raise CurrencyMismatch(field="amount")
    tx, _created = ledger_transfer(
        reference=f"giftcard:{card.pk}:spend:{reference}",
        kind=LedgerTransaction.Kind.PURCHASE,
        source=card.account,
        target=ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=card.currency),
        amount=amount,
        description=f"order {reference} paid by gift card ···{card.last4}",
    )
    return tx


def gift_card_refund(
    *, gift_card_id: int, amount: Money, reference: str, refund_reference: str
) -> LedgerTransaction:
    """Give back to the card up to what order `reference` spent of it (shop revenue -> card).

    Idempotent per `refund_reference`. Works on a switched-off or expired card
    too: the value is the bearer's. Takes the gift card row lock, so two
    refunds of one spend cannot together return more than was spent.
    """
    amount_check(amount)
    spend_reference = f"giftcard:{gift_card_id}:spend:{reference}"
    refund_prefix = f"giftcard:{gift_card_id}:refund:{reference}:"
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().select_related("account").get(pk=gift_card_id)
        if card.currency != amount.currency.code:
            raise CurrencyMismatch(field="amount")
        posted = LedgerTransaction.objects.filter(reference=refund_prefix + refund_reference).exists()
        if not posted and amount.amount > _gift_card_refundable(card, spend_reference, refund_prefix):
            raise RefundNotAllowed(
                _("A gift card gets back at most what the order spent of it."), field="amount"
            )
        tx, _created = ledger_transfer(
            reference=refund_prefix + refund_reference,
            kind=LedgerTransaction.Kind.REFUND,
            source=ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=card.currency),
            target=card.account,
            amount=amount,
            description=f"refund of order {reference} to gift card ···{card.last4}",
        )
        return tx


def _gift_card_refundable(card: GiftCard, spend_reference: str, refund_prefix: str):
    """What the order spent of the card less what was refunded to it already (entries on the card's account)."""
    entries = LedgerEntry.objects.filter(account=card.account).filter(
        Q(transaction__reference=spend_reference) | Q(transaction__reference__startswith=refund_prefix)
    )
    return -(entries.aggregate(total=Sum("amount"))["total"] or 0)


def gift_card_take_back(*, gift_card_id: int, reference: str) -> Money:
    """Take a card the shop sold back whole (its order is refunded): its balance back to the shop (card ->
    shop revenue) and the card switched off; returns what it held. Idempotent per `reference`.

    Only a card nobody has spent from can be taken back (the refund gives its
    full price back): RefundNotAllowed (409) otherwise, and nothing changes. Takes
    the card row's lock, so a concurrent spend waits and then finds it switched off.
    """
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().select_related("account").get(pk=gift_card_id)
        posting = f"giftcard:{card.pk}:take-back:{reference}"
        if LedgerTransaction.objects.filter(reference=posting).exists():
            return Money(0, card.currency)  # taken back already
        if card.balance < card.initial_amount:
            raise RefundNotAllowed(
                _("Gift card ···%(last4)s has been spent from: it cannot be taken back, so its purchase cannot "
                  "be refunded in full.") % {"last4": card.last4}
            )
        amount = Money(card.balance, card.currency)
        if amount.amount > 0:
            ledger_transfer(
                reference=posting,
                kind=LedgerTransaction.Kind.REVERSAL,
                source=card.account,
                target=ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency=card.currency),
                amount=amount,
                description=f"gift card ···{card.last4} taken back: its purchase {reference} is refunded",
            )
        GiftCard.objects.filter(pk=card.pk).update(is_active=False)
        return amount
