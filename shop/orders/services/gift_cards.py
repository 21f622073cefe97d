"""Gift cards on orders: spent at checkout, given back (gift-card part first), and sold as products.

| event                                  | here                          | ledger (payments.services.gift_cards)       |
|----------------------------------------|-------------------------------|---------------------------------------------|
| checkout: each card pays its share     | `order_gift_cards_redeem`     | card -> shop revenue, guarded (never < 0)   |
| cancel / payment failed or expired     | `order_gift_cards_release`    | shop revenue -> card, what is left of it    |
| refund, return, rest of order cancelled| `order_refund_pay_back`       | cards first, the rest by `payment_refund`   |
| a gift-card product is paid            | `order_gift_cards_issue`      | shop revenue -> a new card; code e-mailed   |
| a bought gift card's line is refunded  | `order_gift_cards_take_back`  | the card -> shop revenue, card switched off |

Every give-back is idempotent per (card, order, reference): the ledger
posting's reference and OrderGiftCardRefund's unique key are both derived
from it, so a retry, a double click or a replayed failure gives back once.

Lock order: the order row, then the gift card rows (gift_card_refund locks
each card; gift_card_redeem's guarded UPDATE), then wallets, then stock, as
checkout does (cart lines, voucher, gift cards, wallet, stock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from djmoney.money import Money

from payments.exceptions import RefundNotAllowed
from payments.models import GiftCard
from payments.services.gift_cards import (
    gift_card_issue,
    gift_card_redeem,
    gift_card_refund,
    gift_card_take_back,
)
from payments.services.refunds import payment_refund
from shop.orders.models import Order, OrderGiftCard, OrderGiftCardRefund, OutboxEmail
from shop.orders.services.outbox import outbox_email_queue

logger = logging.getLogger(__name__)
CANCEL_REFERENCE = "cancel"


@dataclass(frozen=True)
class RefundDone:
    """A refund of an order as the order records it: `amount` is the part paid back by the payment."""

    reference: str
    amount: Money
    actor: object = None
    reason: str = ""


# Set in OrdersConfig.ready to payment_handlers.order_refund_record: what a refund paid back entirely to
# gift cards records on the order (the payment handler does the same for the rest), without an import loop.
_refund_recorder: list[Callable[[Order, RefundDone], None]] = []


def order_refund_recorder_register(recorder: Callable[[Order, RefundDone], None]) -> None:
    """Register what records a refund on the order (credit note, restock, status, e-mail)."""
    _refund_recorder[:] = [recorder]


def order_gift_cards_redeem(order: Order, uses: list[dict]) -> None:
    """Spend each card's share (`[{"gift_card_id", "last4", "amount"}]`) on the order, in the caller's transaction.

    GiftCardInsufficient (402) when a card holds less now than it was priced
    with (spent meanwhile by another order): the caller's transaction, and so
    the order, is undone.
    """
    for position, use in enumerate(uses):
        gift_card_redeem(gift_card_id=use["gift_card_id"], amount=use["amount"], reference=order.number)
        OrderGiftCard.objects.create(
            order=order,
            gift_card_id=use["gift_card_id"],
            last4=use["last4"],
            amount=use["amount"],
            refunded=Money(Decimal("0"), order.currency),
            position=position,
        )


def order_gift_card_refundable(order: Order) -> Money:
    """What the order's gift cards paid and have not got back yet."""
    row = OrderGiftCard.objects.filter(order=order).aggregate(amount=Sum("amount"), refunded=Sum("refunded"))
    return Money((row["amount"] or Decimal(0)) - (row["refunded"] or Decimal(0)), order.currency)


def order_refundable(order: Order) -> Money:
    """What can still go back to the shopper: the payment's part and the gift cards' part."""
    return (order.total - order.refunded_total) + order_gift_card_refundable(order)


def order_gift_cards_refunded_for(order: Order, reference: str) -> Money:
    """What the refund `reference` gave back to the order's gift cards."""
    total = OrderGiftCardRefund.objects.filter(use__order=order, reference=reference).aggregate(
        t=Sum("amount")
    )["t"]
    return Money(total or Decimal(0), order.currency)


def order_gift_cards_fully_refunded(order: Order) -> bool:
    return order_gift_card_refundable(order).amount <= 0


def order_gift_cards_release(order: Order) -> Money:
    """Give every card back what the locked order still holds of it (cancel before capture, failed payment).

    Exactly once: a second call finds the release done and gives nothing.
    """
    released, first_time = _gift_cards_refund(
        order, amount=order_gift_card_refundable(order), reference=CANCEL_REFERENCE
    )
    return released if first_time else Money(0, order.currency)


def _gift_cards_refund(order: Order, *, amount: Money, reference: str) -> tuple[Money, bool]:
    """Up to `amount` back to the locked order's cards, in the order they were used; (given back, first time).

    Replaying a reference gives back nothing more and returns what it gave the first time.
    """
    if OrderGiftCardRefund.objects.filter(use__order=order, reference=reference).exists():
        return order_gift_cards_refunded_for(order, reference), False
    left = amount
    for use in OrderGiftCard.objects.select_for_update().filter(order=order).order_by("position", "id"):
        take = min(left, use.refundable)
        if take.amount <= 0:
            continue
        gift_card_refund(
            gift_card_id=use.gift_card_id, amount=take, reference=order.number, refund_reference=reference
        )
        OrderGiftCardRefund.objects.create(use=use, reference=reference, amount=take)
        use.refunded = use.refunded + take
        use.save(update_fields=["refunded_currency", "refunded"])
        left -= take
    return amount - left, True


def order_refund_pay_back(*, order_id: int, amount: Money, reference: str, reason: str, actor=None):
    """Give `amount` of an order back where it came from: gift cards first, the rest the way it was paid.

    The gift-card part is posted (and, when it is all of it, recorded on the
    order) in one transaction under the order's lock; the rest is a
    `payment_refund` with the same reference, whose handler records it.
    Idempotent per `reference`. Call outside a transaction (a card refund is
    an HTTP call). Returns the payment's Refund, or None when the cards took it all.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        to_cards, first_time = _gift_cards_refund(order, amount=amount, reference=reference)
        rest = amount - to_cards
        if rest.amount <= 0:
            if first_time:
                for recorder in _refund_recorder:
                    recorder(
                        order,
                        RefundDone(
                            reference=reference, amount=Money(0, order.currency), actor=actor, reason=reason
                        ),
                    )
            return None
    return payment_refund(
        payment_id=order.payment_id, amount=rest, reference=reference, reason=reason, actor=actor
    )


def order_gift_cards_issue(order: Order) -> list[GiftCard]:
    """Issue a gift card for each paid gift-card line (its gross, in the order's currency); e-mail the codes once.

    Inside the paid transition's transaction (under the order's lock): the
    cards and the e-mail commit together. Idempotent per line
    (`<number>:<line id>`): a replay issues nothing and sends nothing new.
    The codes travel in the outbox row only until it is sent.
    """
    # The paid transition prefetches the lines with their products (order_mark_paid_locked): no query here then.
    lines = [line for line in order.lines.all() if line.product and line.product.is_gift_card]
    issued, codes = [], []
    for line in lines:
        if line.gross.amount <= 0:
            continue
        result = gift_card_issue(
            amount=line.gross, source=GiftCard.Source.PURCHASE, issue_reference=f"{order.number}:{line.pk}"
        )
        issued.append(result.card)
        if result.code is not None:
            codes.append(
                {
                    "code": result.code,
                    "amount": str(line.gross.amount),
                    "currency": order.currency,
                    "name": line.name,
                }
            )
    if codes:
        outbox_email_queue(order=order, kind=OutboxEmail.Kind.GIFT_CARD_ISSUED, context={"cards": codes})
    return issued


def order_gift_cards_take_back(order: Order, lines: dict[int, int]) -> None:
    """Before a refund gives back these units (order line id -> units): the cards their gift-card lines issued
    are taken back whole (payments.gift_card_take_back: balance back to the shop, card switched off), so a
    refunded gift card cannot be spent as well.

    A gift-card line is refunded whole, and only while its card is unspent:
    RefundNotAllowed (409) otherwise, and the caller's transaction (and so
    the refund) is undone. Call under the order's lock, before any money moves.
    """
    gift_lines = [
        line for line in order.lines.select_related("product")
        if lines.get(line.pk) and line.product is not None and line.product.is_gift_card
    ]
    for line in gift_lines:
        card = GiftCard.objects.filter(issue_reference=f"{order.number}:{line.pk}").first()
        if card is None:
            continue  # never issued (the line cost nothing): nothing to take back
        if lines[line.pk] < line.quantity:
            raise RefundNotAllowed(_("A gift card is refunded whole: return every unit of its line."))
        gift_card_take_back(gift_card_id=card.pk, reference=f"{order.number}:{line.pk}")
