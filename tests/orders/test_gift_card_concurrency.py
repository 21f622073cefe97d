"""Real concurrent transactions on PostgreSQL: one gift card spent by two orders at once never goes below zero."""

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from djmoney.money import Money
from rest_framework.test import APIClient

from payments.exceptions import GiftCardInsufficient
from payments.models import GiftCard
from payments.selectors import gift_cards_with_wrong_cached_balance, ledger_unbalanced_transactions
from payments.services.gift_cards import gift_card_issue, gift_card_redeem
from shop.cart.gift_cards import cart_gift_card_apply
from shop.orders.exceptions import PriceChanged
from shop.orders.models import Order, OrderGiftCard
from shop.orders.services.checkout import PlaceResult, order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.test_concurrency import run_at_once
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


def _card(amount):
    return gift_card_issue(
        amount=usd(amount), source=GiftCard.Source.STAFF, issue_reference=f"t:{uuid.uuid4()}"
    )


def test_two_orders_spending_the_same_gift_card_at_once_never_take_it_below_zero():
    """Each shopper confirmed a total of 0.00 (the card covers the 20.00 cart); the card holds 30.00.

    One order is paid by the card; the other is refused: 402 gift_card_insufficient when its spend
    waited for the first one's, or 409 price_changed when it priced after the first committed.
    """
    method = shipping_method_everywhere()
    product = make_product(price="10.00", on_hand=20)
    for round_ in range(3):
        card = _card("30.00")
        shoppers = [shopper_new(), shopper_new()]
        for shopper in shoppers:
            cart_fill(shopper, (product, 2))
            cart_gift_card_apply(
                user=shopper, code=card.code, currency="USD", attempt_keys=[f"t:{shopper.pk}"]
            )

        def checkout(i, shoppers=shoppers):
            return order_place(
                user=shoppers[i],
                payment_method="wallet",
                currency="USD",
                shipping_method=method,
                shipping_address=shoppers[i].addresses.first().pk,
                expected_total=usd("0.00"),
            )

        results = run_at_once(2, checkout)

        placed = [r for r in results if isinstance(r, PlaceResult)]
        refused = [r for r in results if isinstance(r, GiftCardInsufficient | PriceChanged)]
        assert len(placed) == 1 and len(refused) == 1, (round_, results)
        card.card.refresh_from_db()
        assert card.card.balance == Decimal("10.00")
        spent = OrderGiftCard.objects.filter(gift_card=card.card)
        assert [use.amount for use in spent] == [usd("20.00")]
        assert Order.objects.get(pk=placed[0].order.pk).status == Order.Status.PAID
    assert not ledger_unbalanced_transactions().exists()
    assert gift_cards_with_wrong_cached_balance() == []


def test_checkout_whose_gift_card_is_spent_while_it_prices_is_a_402_and_makes_nothing():
    """The card is being spent elsewhere (row locked, not committed) while the API checkout prices with its
    balance: the checkout's guarded spend waits for it, finds too little, and answers 402."""
    shopper = shopper_new()
    cart_fill(shopper, (make_product(price="10.00", on_hand=5), 2))
    card = _card("15.00")
    cart_gift_card_apply(user=shopper, code=card.code, currency="USD", attempt_keys=["t"])
    method = shipping_method_everywhere()
    holding, answer = threading.Event(), {}

    def spend_elsewhere():
        try:
            with transaction.atomic():
                gift_card_redeem(gift_card_id=card.card.pk, amount=usd("10.00"), reference="elsewhere")
                holding.set()
                time.sleep(2)  # the checkout prices meanwhile (reads 15.00) and then waits on the card's row
        finally:
            connection.close()

    def checkout():
        try:
            client = APIClient()
            client.force_authenticate(shopper)
            answer["response"] = client.post(
                "/api/v1/orders/",
                {
                    "payment_method": "wallet",
                    "shipping_method": method,
                    "shipping_address": shopper.addresses.first().pk,
                    "expected_total": {"amount": "5.00", "currency": "USD"},
                },
                format="json",
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        finally:
            connection.close()

    other = threading.Thread(target=spend_elsewhere)
    other.start()
    assert holding.wait(10)
    buyer = threading.Thread(target=checkout)
    buyer.start()
    other.join()
    buyer.join()
    response = answer["response"]
    assert response.status_code == 402, response.content
    assert response.json()["code"] == "gift_card_insufficient"
    card.card.refresh_from_db()
    assert card.card.balance == Decimal("5.00")
    assert not Order.objects.filter(user=shopper).exists()
