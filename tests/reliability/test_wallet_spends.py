"""Concurrent spends of one wallet (purchases, wallet checkouts, withdrawals to a card): never overdrawn."""

from collections import Counter
from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog.models import Stock
from payments import services
from payments.exceptions import InsufficientFunds
from payments.models import LedgerTransaction, Withdrawal
from payments.psp_sandbox.models import SandboxPayout
from shop.cart.exceptions import CartEmpty
from shop.orders.models import Order
from shop.orders.services import PlaceOutcome, order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.fixtures import wallet_funded_by_card
from tests.reliability.helpers import assert_invariants, run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PRICE = Money(Decimal("15.00"), "USD")


def test_concurrent_spends_of_one_wallet_never_overdraw_and_post_each_spend_once(psp):
    user = shopper_new(funds="85.00")
    # Topped up to 100.00 (room for six spends of 15.00) by the card the withdrawals go back to.
    wallet = wallet_funded_by_card(user, "15.00", card_token="tok_ok")
    product = make_product(price="15.00", on_hand=10)
    cart_fill(user, (product, 1))

    def debit(i):
        return lambda: services.wallet_debit(wallet_id=wallet.pk, amount=PRICE, reference=f"reliab-spend-{i}")

    def withdraw():
        return services.wallet_withdraw(wallet_id=wallet.pk, amount=PRICE, card_token="tok_ok")

    def checkout():
        return order_place(
            user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD"
        )

    calls = [debit(i) for i in range(8)] + [withdraw] * 8 + [checkout] * 4
    results = run_at_once(calls)

    def kind(result):
        if isinstance(result, InsufficientFunds):
            return "refused"
        if isinstance(result, CartEmpty):
            return "cart_empty"  # another checkout of the same cart finished first
        if isinstance(result, Exception):
            return f"crash: {result!r}"
        if isinstance(result, Withdrawal):
            return "withdrawn" if result.status == Withdrawal.Status.SUCCEEDED else result.status
        if hasattr(result, "outcome"):
            return "ordered" if result.outcome == PlaceOutcome.PAID else result.outcome
        return "debited"

    kinds = Counter(kind(r) for r in results)
    assert not [k for k in kinds if k.startswith("crash") or k not in {"refused", "cart_empty", "withdrawn", "ordered", "debited"}], kinds
    spent = kinds["withdrawn"] + kinds["ordered"] + kinds["debited"]
    assert spent == 6, kinds  # 100.00 covers six spends of 15.00 and not a seventh

    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10.00")
    assert Withdrawal.objects.count() == kinds["withdrawn"]  # a refused withdrawal left no row
    assert SandboxPayout.objects.count() == kinds["withdrawn"]  # and sent nothing to the card
    assert Order.objects.filter(status=Order.Status.PAID).count() == kinds["ordered"]
    assert Order.objects.count() == kinds["ordered"]  # a refused checkout left no order behind
    assert LedgerTransaction.objects.filter(kind__in=["purchase", "withdrawal"]).count() == 6
    stock = Stock.objects.get(product_id=product.pk)
    assert (stock.on_hand, stock.reserved) == (10 - kinds["ordered"], 0)
    assert_invariants()
