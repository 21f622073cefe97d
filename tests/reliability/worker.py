"""A worker process for the reliability suite: `python -m tests.reliability.worker <command> ...`.

Runs the shop's real services against the database in DATABASE_URL and
prints one JSON line with what happened:

- `checkout <threads> <user id>...`: each user checks out their cart with
  their wallet (order_place), `threads` at a time; prints [[user_id, result]]
  where result is the outcome ("paid") or the error code ("out_of_stock").
- `checkout-card <user id> <token>`: the user checks out their cart by card.
- `charge <payment id>`: the card charge task body (payment_charge_card).
- `retry`: the retry_stuck_payments task body (payment_retry_stuck); prints the rounds it ran.
- `retry-payment <payment id>`: one retry round of one payment (payment_retry); prints its status.
- `spend <wallet id> <user id> <spend>...`: the spends at once, one thread each: `debit:<reference>`
  (wallet_debit of SPEND_AMOUNT), `withdraw:<card token>` (wallet_withdraw of SPEND_AMOUNT) or
  `checkout` (the user's cart, paid by wallet); prints one outcome per spend: "debited",
  "withdrawn", "ordered", or the error code ("insufficient_funds", "cart_empty").

With RELIABILITY_GATE=1 the process sets Django up, connects to the database,
prints "ready" and waits for a line on stdin before it starts: the test
releases several processes at the same instant (helpers.start_workers_together).
"""

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def _checkout(threads: int, user_ids: list[int]) -> list:
    from django.db import connection

    from accounts.models import User
    from shop.core.exceptions import ShopError
    from shop.orders.services.checkout import order_place
    from tests.shipping.factories import shipping_method_everywhere

    barrier = threading.Barrier(min(threads, len(user_ids)))

    def one(user_id: int):
        try:
            user = User.objects.get(pk=user_id)
            address = user.addresses.first().pk
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass
            try:
                result = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=address, currency="USD")
                return [user_id, result.outcome]
            except ShopError as exc:
                return [user_id, exc.code]
            except Exception as exc:  # reported, and the test fails on it
                return [user_id, f"crash:{exc.__class__.__name__}:{exc}"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, user_ids))


def _spend(wallet_id: int, user_id: int, spends: list[str]) -> list:
    from decimal import Decimal

    from django.db import connection
    from djmoney.money import Money

    from accounts.models import User
    from payments.models import Withdrawal
    from payments.services import payouts, wallets
    from shop.core.exceptions import ShopError
    from shop.orders.services.checkout import PlaceOutcome, order_place
    from tests.shipping.factories import shipping_method_everywhere

    amount = Money(Decimal(os.environ.get("SPEND_AMOUNT", "15.00")), "USD")
    user = User.objects.get(pk=user_id)
    address = user.addresses.first().pk
    connection.close()
    barrier = threading.Barrier(len(spends))

    def one(spend: str) -> str:
        kind, _sep, arg = spend.partition(":")
        try:
            barrier.wait(timeout=10)
            if kind == "debit":
                wallets.wallet_debit(wallet_id=wallet_id, amount=amount, reference=arg)
                return "debited"
            if kind == "withdraw":
                withdrawal = payouts.wallet_withdraw(wallet_id=wallet_id, amount=amount, card_token=arg)
                return "withdrawn" if withdrawal.status == Withdrawal.Status.SUCCEEDED else f"withdrawal:{withdrawal.status}"
            if kind == "checkout":
                result = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=address, currency="USD")
                return "ordered" if result.outcome == PlaceOutcome.PAID else f"order:{result.outcome}"
            return f"crash:unknown spend {spend!r}"
        except ShopError as exc:
            return exc.code
        except Exception as exc:  # reported, and the test fails on it
            return f"crash:{exc.__class__.__name__}:{exc}"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(spends)) as pool:
        return list(pool.map(one, spends))


def _wait_for_the_gate() -> None:
    """Ready to work (Django set up, database reached); start when the test says so."""
    from django.db import connection

    connection.ensure_connection()
    connection.close()
    print("ready", flush=True)
    sys.stdin.readline()


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()
    if os.environ.get("RELIABILITY_GATE") == "1":
        _wait_for_the_gate()
    command, args = argv[0], argv[1:]
    if command == "checkout":
        result = _checkout(int(args[0]), [int(a) for a in args[1:]])
    elif command == "checkout-card":
        from accounts.models import User
        from shop.orders.services.checkout import order_place
        from tests.shipping.factories import shipping_method_everywhere

        user = User.objects.get(pk=int(args[0]))
        result = order_place(
            shipping_method=shipping_method_everywhere(),
            user=user, payment_method="card", card_token=args[1], shipping_address=user.addresses.first().pk,
            currency="USD",
        ).outcome
    elif command == "charge":
        from payments.services.charges import payment_charge_card

        result = payment_charge_card(payment_id=int(args[0])).status
    elif command == "retry":
        from payments.services.sweep import payment_retry_stuck

        result = payment_retry_stuck()
    elif command == "retry-payment":
        from payments.services.sweep import payment_retry

        result = payment_retry(payment_id=int(args[0])).status
    elif command == "spend":
        result = _spend(int(args[0]), int(args[1]), args[2:])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
