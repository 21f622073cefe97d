"""A worker process for the reliability suite: `python -m tests.reliability.worker <command> ...`.

Runs the shop's real services against the database in DATABASE_URL and
prints one JSON line with what happened:

- `checkout <threads> <user id>...`: each user checks out their cart with
  their wallet (order_place), `threads` at a time; prints [[user_id, result]]
  where result is the outcome ("paid") or the error code ("out_of_stock").
- `checkout-card <user id> <token>`: the user checks out their cart by card.
- `charge <payment id>`: the card charge task body (payment_charge_card).
- `retry`: the retry_stuck_payments task body (payment_retry_stuck).
"""

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def _checkout(threads: int, user_ids: list[int]) -> list:
    from django.db import connection

    from accounts.models import User
    from shop.exceptions import ShopError
    from shop.orders.services import order_place

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
                result = order_place(user=user, payment_method="wallet", shipping_address=address, currency="USD")
                return [user_id, result.outcome]
            except ShopError as exc:
                return [user_id, exc.code]
            except Exception as exc:  # reported, and the test fails on it
                return [user_id, f"crash:{exc.__class__.__name__}:{exc}"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, user_ids))


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()
    command, args = argv[0], argv[1:]
    if command == "checkout":
        result = _checkout(int(args[0]), [int(a) for a in args[1:]])
    elif command == "checkout-card":
        from accounts.models import User
        from shop.orders.services import order_place

        user = User.objects.get(pk=int(args[0]))
        result = order_place(
            user=user, payment_method="card", card_token=args[1], shipping_address=user.addresses.first().pk,
            currency="USD",
        ).outcome
    elif command == "charge":
        from payments.services import payment_charge_card

        result = payment_charge_card(payment_id=int(args[0])).status
    elif command == "retry":
        from payments.services import payment_retry_stuck

        result = payment_retry_stuck()
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
