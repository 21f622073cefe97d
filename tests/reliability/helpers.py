"""Helpers of the reliability suite.

Processes started here get DATABASE_URL pointing at the live test database
(`test_<name>` under pytest-django) and see what the test committed
(`transaction=True`). The provider is the sandbox on `live_server` (`psp`).
"""

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from decimal import Decimal
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


def start_workers_together(*commands: tuple[str, ...], env: dict[str, str], timeout: float = 120) -> list:
    """Start one worker process per command and release them at the same instant.

    Each process sets Django up and connects to the database first, then waits
    at a gate (RELIABILITY_GATE): the race is between separate interpreters with
    their own connection pools, not between whoever happened to start first.
    """
    env = {**env, "RELIABILITY_GATE": "1"}
    workers = []
    try:
        for command in commands:
            workers.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
                    [sys.executable, "-m", "tests.reliability.worker", *command],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + timeout
        for worker in workers:
            _await_ready(worker, deadline)
        for worker in workers:
            worker.stdin.write(b"go\n")
        for worker in workers:
            worker.stdin.flush()
    except BaseException:
        workers_kill(workers)
        raise
    return workers


def _await_ready(worker: subprocess.Popen, deadline: float) -> None:
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "a worker never became ready"
        readable, _w, _x = select.select([worker.stdout], [], [], remaining)
        if not readable:
            continue
        line = worker.stdout.readline()
        assert line, f"a worker died before it was ready: {worker.communicate()[1].decode()[-3000:]}"
        if line.strip() == b"ready":
            return


def worker_result(worker: subprocess.Popen, timeout: float = 240):
    """Wait for a worker and return the JSON it printed last; its crash fails the test."""
    try:
        out, err = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        workers_kill([worker])
        raise
    assert worker.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


def workers_kill(workers) -> None:
    """Kill the workers still running (each in its own process group) and reap them."""
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)


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
    on_hand == the sum of the (variant, warehouse)'s movements' on_hand_delta, reserved == the sum of their
    reserved_delta == the open reservations, committed (sold, awaiting shipment) == the sum of committed_delta."""
    from catalog.models import Stock, StockMovement, StockReservation

    assert not Stock.objects.filter(on_hand__lt=0).exists()
    assert not Stock.objects.filter(reserved__lt=0).exists()
    assert not Stock.objects.filter(committed__lt=0).exists()
    movements = {
        (row["variant_id"], row["warehouse_id"]): (row["on_hand"], row["reserved"], row["committed"])
        for row in StockMovement.objects.values("variant_id", "warehouse_id").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"), committed=Sum("committed_delta")
        )
    }
    open_units = {
        (row["variant_id"], row["warehouse_id"]): row["n"]
        for row in StockReservation.objects.filter(status=StockReservation.Status.OPEN)
        .values("variant_id", "warehouse_id")
        .annotate(n=Sum("quantity"))
    }
    for stock in Stock.objects.all():
        key = (stock.variant_id, stock.warehouse_id)
        assert stock.reserved <= stock.on_hand, stock
        assert (stock.on_hand, stock.reserved, stock.committed) == movements.get(key, (0, 0, 0)), (
            stock, "movements", movements.get(key),
        )
        assert stock.reserved == open_units.get(key, 0), (stock, "open reservations", open_units)
    # No movement or reservation of a (variant, warehouse) that has no stock row.
    assert set(movements) <= set(Stock.objects.values_list("variant_id", "warehouse_id"))


def assert_orders_invariants() -> None:
    """No lost order or payment, and no unit sold or released twice.

    Each order's state agrees with its payment's (same amount; paid <-> money received,
    cancelled <-> failed or given back, refunded totals equal), and with its stock records:
    its reservations are its lines, sold once if it was paid, released once if cancelled,
    and what a refund put back is its lines' refunded quantities.
    """
    from catalog.models import StockMovement, StockReservation
    from payments.models import Payment
    from shop.orders.models import Order

    statuses = Order.Status
    paid = {statuses.PAID, statuses.SHIPPED, statuses.DELIVERED}
    expected_payment = {
        statuses.PENDING_PAYMENT: {Payment.Status.PENDING, *Payment.OPEN_STATUSES},
        statuses.PAID: {Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED},
        statuses.SHIPPED: {Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED},
        statuses.DELIVERED: {Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED},
        statuses.REFUNDED: {Payment.Status.REFUNDED},
        # Failed, or it succeeded after the order was cancelled and went back in full.
        statuses.CANCELLED: {Payment.Status.FAILED, Payment.Status.REFUNDED},
    }
    payments = Payment.objects.in_bulk(list(Order.objects.values_list("payment_id", flat=True)))
    reserved = defaultdict(lambda: defaultdict(int))  # number -> (status, product) -> units
    for number, status, product_id, quantity in StockReservation.objects.values_list(
        "reference", "status", "product_id", "quantity"
    ):
        reserved[number][(status, product_id)] += quantity
    moved = defaultdict(lambda: [0, 0])  # (number, kind, product) -> [on_hand, reserved]
    for number, kind, product_id, on_hand, held in StockMovement.objects.values_list(
        "reference", "kind", "product_id", "on_hand_delta", "reserved_delta"
    ):
        moved[(number, kind, product_id)][0] += on_hand
        moved[(number, kind, product_id)][1] += held
    numbers = set()
    for order in Order.objects.prefetch_related("lines"):
        numbers.add(order.number)
        payment = payments.get(order.payment_id)
        assert payment is not None, f"order {order.number} has no payment"
        assert payment.reference == order.number and payment.purpose == Payment.Purpose.ORDER, (order, payment)
        assert payment.amount == order.total, (order.number, payment.amount, order.total)
        assert payment.status in expected_payment[order.status], (order.number, order.status, payment.status)
        assert payment.refunded_amount == order.refunded_total.amount, (order.number, payment.refunded_amount)
        units = defaultdict(int)
        refunded_units = defaultdict(int)
        for line in order.lines.all():
            units[line.product_id] += line.quantity
            refunded_units[line.product_id] += line.refunded_quantity
        sold = order.status in paid or order.status == statuses.REFUNDED
        state = {
            statuses.PENDING_PAYMENT: StockReservation.Status.OPEN,
            statuses.CANCELLED: StockReservation.Status.RELEASED,
        }.get(order.status, StockReservation.Status.SOLD)
        held = dict(reserved.get(order.number, {}))
        assert held == {(state, product): n for product, n in units.items()}, (order.number, order.status, held)
        for product, n in units.items():
            delta = {kind: moved.get((order.number, kind, product), [0, 0]) for kind in StockMovement.Kind}
            reservation, sale, release = delta["reservation"], delta["sale"], delta["release"]
            # A card order reserves first (then sells or releases); a wallet order sells at once.
            assert reservation in ([0, 0], [0, n]), (order.number, "reserved", reservation)
            still_held = reservation[1] + sale[1] + release[1]
            assert still_held == (n if order.status == statuses.PENDING_PAYMENT else 0), (order.number, still_held)
            assert sale[0] == (-n if sold else 0), (order.number, "sold", sale)
            released = order.status == statuses.CANCELLED and reservation == [0, n]
            assert release == [0, -n if released else 0], (order.number, "released", release)
            # A refund puts units back on hand: from committed when they never shipped, as a restock when returned.
            restock, cancelled = delta["restock"], delta["sale_cancelled"]
            assert restock[0] + cancelled[0] == refunded_units[product], (order.number, "put back", restock, cancelled)
            assert restock[1] == cancelled[1] == 0, (order.number, "put back", restock, cancelled)
    # No stock record of a checkout that left no order behind (a half-written checkout).
    assert set(reserved) <= numbers, set(reserved) - numbers
    checkout_kinds = (StockMovement.Kind.RESERVATION, StockMovement.Kind.SALE, StockMovement.Kind.RELEASE)
    strays = {number for number, kind, _product in moved if kind in checkout_kinds} - numbers
    assert not strays, strays


def assert_provider_agrees(*, settled: bool = True) -> None:
    """No double charge and no money moved without its record: every charge, refund and payout the
    provider (the sandbox) made is exactly one that succeeded here, for the same amount, and back;
    and the provider-clearing ledger account holds exactly the net of them.

    `settled` (the end of a test): nothing may be left open. Otherwise (a worker just died) a
    payment, payout or refund still open here may or may not have been made at the provider: its
    key is left out of the comparison, and a payout's debit already sits in clearing.
    """
    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Refund, Withdrawal
    from payments.psp_sandbox.models import SandboxCharge, SandboxPayout, SandboxRefund, SandboxStatus

    open_payments = Payment.objects.filter(
        method=Payment.Method.CARD, status__in=[Payment.Status.PENDING, *Payment.OPEN_STATUSES]
    )
    open_withdrawals = Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING)
    open_refunds = Refund.objects.filter(status=Refund.Status.PENDING)
    if settled:
        open_rows = [*open_payments, *open_withdrawals, *open_refunds]
        assert open_rows == [], f"still open at the end: {open_rows}"
    unsettled = {row.provider_key for rows in (open_payments, open_withdrawals, open_refunds) for row in rows}

    def provider(model):
        return {
            key: amount
            for key, amount in model.objects.filter(status=SandboxStatus.SUCCEEDED).values_list(
                "idempotency_key", "amount"
            )
            if key not in unsettled
        }

    booked = Payment.objects.filter(method=Payment.Method.CARD).filter(
        status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED, Payment.Status.PARTIALLY_REFUNDED]
    )
    ours = {p.provider_key: p.amount.amount for p in booked}
    # A charge that landed after its payment failed here is booked as a late charge and given back.
    ours.update({r.payment.provider_key: r.amount.amount for r in Refund.objects.filter(kind=Refund.Kind.LATE_CHARGE)})
    assert ours == provider(SandboxCharge), ("charges", ours, provider(SandboxCharge))
    refunds = {
        r.provider_key: r.amount.amount
        for r in Refund.objects.filter(status=Refund.Status.SUCCEEDED, payment__method=Payment.Method.CARD)
    }
    assert refunds == provider(SandboxRefund), ("refunds", refunds, provider(SandboxRefund))
    payouts = {w.provider_key: w.amount.amount for w in Withdrawal.objects.filter(status=Withdrawal.Status.SUCCEEDED)}
    assert payouts == provider(SandboxPayout), ("payouts", payouts, provider(SandboxPayout))

    # Money at the provider (charged - refunded - paid out) == what the clearing account says we hold
    # there. Ledger-only deposits (test funding: no card behind them) are left out.
    net = sum(ours.values(), Decimal(0)) - sum(refunds.values(), Decimal(0)) - sum(payouts.values(), Decimal(0))
    clearing = (
        LedgerEntry.objects.filter(account__purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, account__user__isnull=True)
        .exclude(transaction__kind=LedgerTransaction.Kind.DEPOSIT, transaction__reference__startswith="test-funding-")
        .aggregate(total=Sum("amount"))["total"]
        or Decimal(0)
    )
    in_flight = sum((w.amount.amount for w in open_withdrawals), Decimal(0))  # debited, not yet paid out
    assert -clearing + in_flight == net, ("provider clearing", -clearing, "in flight", in_flight, "provider net", net)


def assert_invariants(*, settled: bool = True) -> None:
    """Every invariant of the suite: money (ledger, wallets, payments posted), stock, orders, provider.

    `settled=False` in the middle of a test (right after a crash): rows may still be open.
    """
    assert_money_invariants()
    assert_stock_invariants()
    assert_orders_invariants()
    assert_provider_agrees(settled=settled)
