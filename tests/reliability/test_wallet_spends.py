"""Concurrent spends of one wallet (purchases, wallet checkouts, withdrawals to a card): never overdrawn.

The spends come from four worker processes released together (each its own
interpreter and connection pool, as web and Celery workers would be), five
threads each: the wallet row lock and the guarded debit are what hold, not
anything shared inside one Python process.
"""

from collections import Counter
from decimal import Decimal

import pytest

from catalog.models import Stock
from payments.models import LedgerTransaction, Withdrawal
from payments.psp_sandbox.models import SandboxPayout
from shop.orders.models import Order
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.fixtures import wallet_funded_by_card
from tests.reliability.helpers import assert_invariants, child_env, start_workers_together, worker_result

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 4
OUTCOMES = {"debited", "withdrawn", "ordered", "insufficient_funds", "cart_empty", "cart_changed"}


def test_concurrent_spends_of_one_wallet_from_several_processes_never_overdraw_and_post_each_spend_once(psp):
    user = shopper_new(funds="85.00")
    # Topped up to 100.00 (room for six spends of 15.00) by the card the withdrawals go back to.
    wallet = wallet_funded_by_card(user, "15.00", card_token="tok_ok")
    product = make_product(price="15.00", on_hand=10)
    cart_fill(user, (product, 1))

    # Per process: two purchases, two withdrawals and a checkout of the cart (cart_empty: another
    # checkout of the same cart finished first; cart_changed: another one took the cart's lines while
    # this one waited for them, the designed refusal since checkout takes the lines in the order's
    # transaction). 20 spends of 15.00 against 100.00.
    commands = [
        ("spend", str(wallet.pk), str(user.pk), f"debit:reliab-spend-{p}-1", "withdraw:tok_ok", "checkout",
         f"debit:reliab-spend-{p}-2", "withdraw:tok_ok")
        for p in range(PROCESSES)
    ]
    workers = start_workers_together(
        *commands, env=child_env(PAYMENT_GATEWAY_URL=psp, SPEND_AMOUNT="15.00", DB_POOL_MAX_SIZE="8")
    )
    per_process = [worker_result(worker) for worker in workers]

    kinds = Counter(outcome for outcomes in per_process for outcome in outcomes)
    assert sum(kinds.values()) == 5 * PROCESSES
    assert set(kinds) <= OUTCOMES, kinds  # no crash, no unexpected outcome
    spent = kinds["withdrawn"] + kinds["ordered"] + kinds["debited"]
    assert spent == 6, kinds  # 100.00 covers six spends of 15.00 and not a seventh
    assert kinds["insufficient_funds"] >= 1, kinds

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
