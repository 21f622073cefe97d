"""Helpers of the reliability suite.

Processes started here get DATABASE_URL pointing at the live test database
(`test_<name>` under pytest-django) and see what the test committed
(`transaction=True`). The provider is the sandbox on `live_server` (`psp`).
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of exactly the database this test session uses."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python process working on the test database, tasks in-process."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="shop.settings",
        CELERY_TASK_ALWAYS_EAGER="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PSP_SANDBOX_WEBHOOKS_ENABLED="0",
        DB_POOL_MIN_SIZE="1",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def start_worker(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """`python -m tests.reliability.worker <args>` as a child process in its own process group."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "tests.reliability.worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def run_at_once(functions) -> list:
    """Run the callables in threads released together; each result is a value or the exception raised."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # the test asserts on what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def assert_money_invariants() -> None:
    """Ledger balanced per transaction and currency, wallets never negative, cached == summed balances,
    no order without its payment (or payment without its order), every succeeded payment posted
    (its reference is unique, so at most once) and nothing posted for a failed one."""
    from payments.models import LedgerEntry, LedgerTransaction, Payment, Wallet
    from payments.selectors import ledger_unbalanced_transactions, wallets_with_wrong_cached_balance

    unbalanced = (
        LedgerEntry.objects.values("transaction_id", "currency").annotate(total=Sum("amount")).exclude(total=0)
    )
    assert list(unbalanced) == []
    assert not ledger_unbalanced_transactions().exists()
    assert not Wallet.objects.filter(balance__lt=0).exists()
    assert wallets_with_wrong_cached_balance() == []
    assert not LedgerTransaction.objects.annotate(n=Count("entries")).filter(n__lt=2).exists()
    # No lost order or payment: each order has its payment, each order payment its order.
    from shop.orders.models import Order

    numbers = set(Order.objects.values_list("number", flat=True))
    order_payments = set(Payment.objects.filter(purpose=Payment.Purpose.ORDER).values_list("reference", flat=True))
    assert numbers == order_payments, (numbers ^ order_payments)
    assert not Order.objects.filter(payment_id__isnull=True).exists()
    references = set(LedgerTransaction.objects.values_list("reference", flat=True))
    for payment in Payment.objects.all():
        posted = payment.ledger_reference in references
        if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED, Payment.Status.PARTIALLY_REFUNDED):
            assert posted, f"succeeded payment {payment.pk} has no ledger transaction"
        else:
            assert not posted, f"{payment.status} payment {payment.pk} was posted to the ledger"


def assert_stock_invariants() -> None:
    """No counter below zero, nothing oversold, and every counter explained by its records:
    on_hand == the sum of the product's movements' on_hand_delta, reserved == the sum of their
    reserved_delta == the open reservations."""
    from catalog.models import Stock, StockMovement, StockReservation

    assert not Stock.objects.filter(on_hand__lt=0).exists()
    assert not Stock.objects.filter(reserved__lt=0).exists()
    movements = {
        row["product_id"]: (row["on_hand"], row["reserved"])
        for row in StockMovement.objects.values("product_id").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
    }
    open_units = dict(
        StockReservation.objects.filter(status=StockReservation.Status.OPEN)
        .values("product_id")
        .annotate(n=Sum("quantity"))
        .values_list("product_id", "n")
    )
    for stock in Stock.objects.all():
        assert stock.reserved <= stock.on_hand, stock
        assert (stock.on_hand, stock.reserved) == movements.get(stock.product_id, (0, 0)), (
            stock, "movements", movements.get(stock.product_id)
        )
        assert stock.reserved == open_units.get(stock.product_id, 0), (stock, "open reservations", open_units)
    # No movement or reservation of a product that has no stock row.
    assert set(movements) <= set(Stock.objects.values_list("product_id", flat=True))
