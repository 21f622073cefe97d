"""A gift card the shop sold is taken back when its purchase is refunded: the shopper cannot have both
the money back and the card's balance (a cent lost to the shop otherwise)."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog.models import Product
from payments.exceptions import GiftCardInvalid, RefundNotAllowed
from payments.models import GiftCard, Wallet
from payments.services.gift_cards import gift_card_redeem
from shop.core.exceptions import InvalidTransition
from shop.orders.models import Order
from shop.orders.services.transitions import order_refund
from tests.orders.factories import cart_fill, make_product
from tests.orders.test_gift_card_orders import ledger_sound, place

pytestmark = pytest.mark.django_db


def _bought_card(shopper, price="25.00") -> tuple[Order, GiftCard]:
    product = make_product(price=price, on_hand=5)
    Product.objects.filter(pk=product.pk).update(is_gift_card=True)
    cart_fill(shopper, (product, 1))
    order = place(shopper).order
    return order, GiftCard.objects.get(issue_reference=f"{order.number}:{order.lines.get().pk}")


def test_refunding_an_unspent_bought_card_takes_it_back_once(shopper):
    order, card = _bought_card(shopper)
    wallet_before = Wallet.objects.get(user=shopper).balance
    order_refund(order_id=order.pk, actor=None, reason="changed my mind")
    card.refresh_from_db()
    assert (card.balance, card.is_active) == (Decimal("0.00"), False)
    assert Wallet.objects.get(user=shopper).balance == wallet_before + Decimal("25.00")
    assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED
    with pytest.raises(InvalidTransition):  # the refund is done: a second one is refused
        order_refund(order_id=order.pk)
    assert ledger_sound()


def test_a_bought_card_spent_from_cannot_be_refunded_and_nothing_moves(shopper):
    order, card = _bought_card(shopper)
    gift_card_redeem(gift_card_id=card.pk, amount=Money("5.00", "USD"), reference="SO-ELSEWHERE")
    wallet_before = Wallet.objects.get(user=shopper).balance
    with pytest.raises(RefundNotAllowed) as refused:
        order_refund(order_id=order.pk)
    assert card.last4 in str(refused.value.message)
    card.refresh_from_db()
    assert (card.balance, card.is_active) == (Decimal("20.00"), True)  # still the bearer's
    assert Wallet.objects.get(user=shopper).balance == wallet_before
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert ledger_sound()


def test_a_taken_back_card_cannot_be_spent(shopper):
    order, card = _bought_card(shopper)
    order_refund(order_id=order.pk)
    with pytest.raises(GiftCardInvalid):
        gift_card_redeem(gift_card_id=card.pk, amount=Money("1.00", "USD"), reference="SO-LATER")
