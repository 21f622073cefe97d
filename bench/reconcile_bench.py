"""Time the nightly reconciliation of a realistic day with ~1,000,000 ledger entries, and its peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_staff \\
        .venv/bin/python bench/reconcile_bench.py --entries 1000000

What is loaded (once per database; `--load-only` / `--run-only` split the
phases, `--fresh` empties the database first), all for one UTC day
(`BENCH_DAY`), with bulk inserts in chunks (rows built in Python, no
services: loading is not what is measured):

- 5,000 products in one category, each with its stock counters and a
  restock movement the day before;
- 20,000 customers (one per 50 ledger entries) with USD wallets, each opened
  with a card deposit the day before (so no wallet ever goes below zero);
- the day itself, interleaved: 30 % card deposits into wallets, 40 % card
  orders, 30 % wallet orders. Every order has 1-2 lines, a reservation and a
  reservation + sale movement per line; every payment its balanced ledger
  transaction (2 entries); every card payment its charge at the provider
  (the sandbox's own table). One card order in 500 is still waiting for an
  unknown payment outcome: its reservation stays open, nothing is booked.

Ledger entries in total (both days) = `--entries`. The ledger's
balanced-at-commit trigger is bypassed while loading (session_replication_role
= replica; the rows are balanced by construction and the run checks that
itself). Wallet balances and stock counters are then set from their entries
and movements with one UPDATE each, and the tables are ANALYZEd.

The run goes in a fresh child process (so its peak RSS, ru_maxrss, is the
reconciliation's own, not the loader's), with DEBUG off, against the real
sandbox provider served by gunicorn (one sync worker) in another process:
the settlement report comes over HTTP, page by page.

Results on this machine (2 cores shared with other work, load average 4-9
during the runs; PostgreSQL 15; 2026-11-30), `--entries 1000000`: 999,232
ledger entries (959,232 on the day; the 768 orders still waiting book
nothing), 671,232 provider charges and payments compared, 335,616 orders,
5,000 products with 1.1 million stock movements.

    load (COPY, once):                  295 s
    reconciliation run, wall time:      24.9 s, 29.9 s, 33.5 s (three runs)
    reconciliation run, peak RSS:       102.7-104.9 MB
    status: clean (no findings)         goal: < 60 s and < 300 MB

The same on a quiet machine (load average under 1, 2026-11-30, 10:40 UTC):

    load (COPY, once, --fresh):         80 s
    reconciliation run, wall time:      11.8 s, 11.4 s, 10.2 s (three runs)
    reconciliation run, peak RSS:       161.6 MB (first run after the load), 104.1 MB, 103.9 MB
    status: clean (no findings)

Before the fixes of this change the same day took 82 s (a correlated sum per
order and per product, 2,000-key IN lists that PostgreSQL answered with a
sequential scan, pages that re-read the day from its start) and held the
provider's whole report in memory.
"""

import argparse
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

BENCH_DAY = date(2026, 3, 2)
PREFIX = "SO-BENCH-"
PRODUCTS = 5000
ENTRIES_PER_USER = 50
CHUNK = 5000  # transactions per chunk
OPENING = Decimal("1000.00")
DEPOSIT = Decimal("150.00")
RESTOCK = 100_000


def setup():
    import django

    django.setup()


def _moment(day: date, n: int, total: int) -> datetime:
    """The n-th of `total` events, spread evenly over the UTC day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(microseconds=int(n * (86_400_000_000 - 10_000_000) / max(total, 1)))


def loaded() -> int:
    from shop.orders.models import Order

    return Order.objects.filter(number__startswith=PREFIX).count()


class Copier:
    """Rows for the big tables, written with COPY (PostgreSQL) a chunk at a time; ids assigned here."""

    def __init__(self, models: dict):
        from django.db import connection

        self.connection = connection
        self.models = models
        self.rows = {name: [] for name in models}
        self.next_id = {}
        with connection.cursor() as cursor:
            for name, model in models.items():
                if model._meta.pk.get_internal_type() in ("AutoField", "BigAutoField"):
                    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")  # noqa: S608
                    self.next_id[name] = cursor.fetchone()[0]

    def new_id(self, name: str) -> int:
        value = self.next_id[name]
        self.next_id[name] = value + 1
        return value

    def add(self, name: str, row: tuple) -> None:
        self.rows[name].append(row)

    def flush(self) -> None:
        from django.db import transaction

        with transaction.atomic(), self.connection.cursor() as cursor:
            # The ledger's balanced-at-commit trigger (one SUM per entry) is skipped: the rows are
            # balanced by construction, and the run under test checks exactly that.
            cursor.execute("SET LOCAL session_replication_role = replica")
            for name, rows in self.rows.items():
                if not rows:
                    continue
                meta = self.models[name]._meta
                fields = [f.column for f in meta.concrete_fields]
                if len(rows[0]) != len(fields):
                    raise SystemExit(f"reconcile_bench: {name} rows have {len(rows[0])} values, {meta.db_table} "
                                     f"has {len(fields)} columns ({', '.join(fields)}): update the loader")
                columns = ", ".join(fields)
                with cursor.copy(f"COPY {meta.db_table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                rows.clear()

    def finish(self) -> None:
        self.flush()
        with self.connection.cursor() as cursor:
            for name, value in self.next_id.items():
                table = self.models[name]._meta.db_table
                cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, max(value - 1, 1)])


def _load_catalog() -> tuple[dict, list]:
    """PRODUCTS products in one category, each with its stock row; (prices by id, ids)."""
    from djmoney.money import Money

    from catalog.models import Product, Stock
    from catalog.services.categories import category_create

    category = category_create(name="Bench")
    products = Product.objects.bulk_create(
        [
            Product(sku=f"BENCH-{n:05d}", slug=f"bench-{n:05d}", name=f"Bench product {n}", category=category,
                    price=Money(Decimal(5 + n % 91), "USD"))
            for n in range(PRODUCTS)
        ],
        batch_size=2000,
    )
    Stock.objects.bulk_create([Stock(product=p) for p in products], batch_size=2000)
    prices = {p.pk: p.price.amount for p in products}
    product_ids = [p.pk for p in products]
    return prices, product_ids


def _load_customers(users_n: int) -> tuple[list, int, int]:
    """Customers with USD wallets; ([(wallet id, user id, account id)], clearing account, revenue account)."""
    from accounts.models import User
    from payments.models import LedgerAccount, Wallet
    from payments.services.ledger import ledger_system_account

    User.objects.bulk_create(
        [User(email=f"bench-{n}@bench.example", password="!") for n in range(users_n)], batch_size=5000
    )
    users = list(User.objects.filter(email__endswith="@bench.example").order_by("id").values_list("id", flat=True))
    accounts = LedgerAccount.objects.bulk_create(
        [LedgerAccount(user_id=u, purpose=LedgerAccount.Purpose.CUSTOMER_WALLET, currency="USD") for u in users],
        batch_size=5000,
    )
    wallets = Wallet.objects.bulk_create(
        [Wallet(user_id=u, currency="USD", account=a) for u, a in zip(users, accounts, strict=True)], batch_size=5000
    )
    wallets = [(w.pk, w.user_id, w.account_id) for w in wallets]
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency="USD").pk
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD").pk
    return wallets, clearing, revenue


def _copier() -> Copier:
    from catalog.models import StockMovement, StockReservation
    from payments.models import LedgerEntry, LedgerTransaction, Payment
    from payments.psp_sandbox.models import SandboxCharge
    from shop.orders.models import Order, OrderLine

    return Copier({"payment": Payment, "tx": LedgerTransaction, "entry": LedgerEntry, "charge": SandboxCharge,
                   "order": Order, "line": OrderLine, "reservation": StockReservation, "movement": StockMovement})


def _payment(out: Copier, *, user_id, purpose, reference, amount, at, method="card", wallet_id=None,
             status="succeeded"):
    """A payment row (and, for a card, the provider's charge); returns (id, uid)."""
    uid = uuid.uuid4()
    pk = out.new_id("payment")
    key = f"payment-{uid}"
    charge_id = f"ch_{uid.hex[:24]}" if method == "card" and status == "succeeded" else ""
    settled = at + timedelta(seconds=1) if status == "succeeded" else None
    out.add("payment", (
        pk, uid, user_id, purpose, reference, wallet_id, method, "USD", amount, Decimal(0), status,
        "tok_ok" if method == "card" else "", key, charge_id, 1 if method == "card" else 0, None, "", "", at,
        settled or at, settled, None,
    ))
    if charge_id:
        out.add("charge", (charge_id, key, "USD", amount, "tok_ok", reference, f"{purpose} {reference}",
                           "succeeded", "", at))
    return pk, uid


def _book(out: Copier, uid, kind, amount, source, target, at, description):
    tx = out.new_id("tx")
    out.add("tx", (tx, f"payment:{uid}", kind, description, at))
    out.add("entry", (out.new_id("entry"), tx, source, -amount, "USD"))
    out.add("entry", (out.new_id("entry"), tx, target, amount, "USD"))


def _load_eve(out: Copier, product_ids: list, wallets: list, clearing: int, users_n: int) -> None:
    """The day before: every product restocked, every wallet opened with a card deposit."""
    eve = datetime(BENCH_DAY.year, BENCH_DAY.month, BENCH_DAY.day, tzinfo=UTC) - timedelta(hours=20)
    for product_id in product_ids:
        out.add("movement", (out.new_id("movement"), product_id, "restock", RESTOCK, 0, "", "bench", None, eve))

    for n, (wallet_id, user_id, account_id) in enumerate(wallets):
        at = _moment(BENCH_DAY - timedelta(days=1), n, users_n)
        _pk, uid = _payment(out, user_id=user_id, purpose="wallet_deposit", reference=f"wallet-{wallet_id}",
                            amount=OPENING, at=at, wallet_id=wallet_id)
        _book(out, uid, "deposit", OPENING, clearing, account_id, at, f"wallet_deposit wallet-{wallet_id}")
    out.flush()


def _load_order(out: Copier, order_n: int, *, by_card: bool, wallet: tuple, at: datetime, catalog: tuple,
                accounts: tuple) -> None:
    """One order with 1-2 lines, its payment, ledger transaction, reservations and movements."""
    from psycopg.types.json import Jsonb

    wallet_id, user_id, account_id = wallet
    prices, product_ids = catalog
    clearing, revenue = accounts
    waiting = by_card and order_n % 500 == 0  # outcome unknown: reservation open, nothing booked
    number = f"{PREFIX}{order_n:08d}"
    lines = [
        (product_ids[(order_n * 31 + i * 17) % PRODUCTS], 1 + (order_n + i) % 2 if by_card else 1)
        for i in range(1 + (order_n % 3 == 0))
    ]
    total = sum(prices[p] * q for p, q in lines)
    pay_id, uid = _payment(
        out, user_id=user_id, purpose="order", reference=number, amount=total, at=at,
        method="card" if by_card else "wallet", wallet_id=None if by_card else wallet_id,
        status="unknown" if waiting else "succeeded",
    )
    if not waiting:
        _book(out, uid, "purchase", total, clearing if by_card else account_id, revenue, at, f"order {number}")
    order_id = out.new_id("order")
    out.add("order", (
        order_id, number, user_id, "pending_payment" if waiting else "paid", "USD", "USD", total, "USD",
        Decimal(0), "card" if by_card else "wallet", pay_id, Jsonb({}), f"bench-{user_id}@bench.example",
        at + timedelta(minutes=15), "", "", at, at, None if waiting else at + timedelta(seconds=1), None, None,
        None,
    ))
    for product_id, quantity in lines:
        out.add("line", (out.new_id("line"), order_id, product_id, f"BENCH-{product_id}", "Bench product",
                         "USD", prices[product_id], quantity, 0))
        out.add("reservation", (out.new_id("reservation"), product_id, quantity, number,
                                "open" if waiting else "sold", at + timedelta(minutes=15), at, at))
        out.add("movement", (out.new_id("movement"), product_id, "reservation", 0, quantity, number, "",
                             None, at))
        if not waiting:
            out.add("movement", (out.new_id("movement"), product_id, "sale", -quantity, -quantity, number,
                                 "", None, at + timedelta(seconds=1)))


def _load_day(
    out: Copier, day_tx: int, wallets: list, users_n: int, catalog: tuple, accounts: tuple, started: float
) -> None:
    """The day itself, interleaved: 30 % card deposits, 40 % card orders, 30 % wallet orders."""
    clearing, _revenue = accounts
    order_n = 0
    for n in range(day_tx):
        at = _moment(BENCH_DAY, n, day_tx)
        slot, k = n % 10, n // 10
        wallet_id, user_id, account_id = wallets[(k * 7 + slot) % users_n]
        if slot < 3:  # a card deposit into a wallet
            _pk, uid = _payment(out, user_id=user_id, purpose="wallet_deposit", reference=f"wallet-{wallet_id}",
                                amount=DEPOSIT, at=at, wallet_id=wallet_id)
            _book(out, uid, "deposit", DEPOSIT, clearing, account_id, at, f"wallet_deposit wallet-{wallet_id}")
        else:  # an order, by card (40 %) or wallet (30 %)
            order_n += 1
            _load_order(out, order_n, by_card=slot < 7, wallet=(wallet_id, user_id, account_id), at=at,
                        catalog=catalog, accounts=accounts)
        if n % CHUNK == CHUNK - 1:
            out.flush()
            if n % 100_000 < CHUNK:
                print(f"  {n + 1} transactions ({time.monotonic() - started:.0f} s)", flush=True)
    out.finish()


def _settle_and_check() -> None:
    """Wallet balances and stock counters from their entries and movements; prove the rows hang together."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_wallet w SET balance = s.total FROM (SELECT account_id, SUM(amount) AS total "
            "FROM payments_ledgerentry GROUP BY account_id) s WHERE s.account_id = w.account_id"
        )
        cursor.execute(
            "UPDATE catalog_stock st SET on_hand = COALESCE(m.on_hand, 0), reserved = COALESCE(r.reserved, 0) "
            "FROM catalog_stock s0 "
            "LEFT JOIN (SELECT product_id, SUM(on_hand_delta) AS on_hand FROM catalog_stockmovement "
            "GROUP BY product_id) m ON m.product_id = s0.product_id "
            "LEFT JOIN (SELECT product_id, SUM(quantity) AS reserved FROM catalog_stockreservation "
            "WHERE status = 'open' GROUP BY product_id) r ON r.product_id = s0.product_id "
            "WHERE st.product_id = s0.product_id"
        )
        # COPY skipped the foreign-key triggers too: prove the rows hang together.
        for label, sql in (
            ("entries without a transaction", "SELECT COUNT(*) FROM payments_ledgerentry e LEFT JOIN "
             "payments_ledgertransaction t ON t.id = e.transaction_id WHERE t.id IS NULL"),
            ("entries without an account", "SELECT COUNT(*) FROM payments_ledgerentry e LEFT JOIN "
             "payments_ledgeraccount a ON a.id = e.account_id WHERE a.id IS NULL"),
            ("lines without an order", "SELECT COUNT(*) FROM orders_orderline l LEFT JOIN orders_order o "
             "ON o.id = l.order_id WHERE o.id IS NULL"),
            ("payments without a user", "SELECT COUNT(*) FROM payments_payment p LEFT JOIN accounts_user u "
             "ON u.id = p.user_id WHERE u.id IS NULL"),
        ):
            cursor.execute(sql)
            if cursor.fetchone()[0]:
                raise SystemExit(f"bench data is broken: {label}")
        cursor.execute("ANALYZE")


def load(entries: int) -> dict:
    """Load the bench day (see the module docstring) with COPY; returns the load time."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("the loader writes with COPY: set DATABASE_URL=postgres://...")
    started = time.monotonic()
    users_n = max(10, entries // ENTRIES_PER_USER)
    day_tx = (entries - 2 * users_n) // 2
    print(f"loading {users_n} customers, {PRODUCTS} products, {day_tx} transactions on {BENCH_DAY}", flush=True)

    catalog = _load_catalog()
    wallets, clearing, revenue = _load_customers(users_n)
    out = _copier()
    _load_eve(out, catalog[1], wallets, clearing, users_n)
    _load_day(out, day_tx, wallets, users_n, catalog, (clearing, revenue), started)
    _settle_and_check()
    seconds = time.monotonic() - started
    print(f"loaded in {seconds:.0f} s", flush=True)
    return {"load_seconds": round(seconds, 1)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prod_env(**extra) -> dict:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_MANIFEST": "0",
        "PSP_SANDBOX_ENABLED": "1",
        "PSP_SANDBOX_WEBHOOKS_ENABLED": "0",
        **extra,
    }


@contextmanager
def sandbox_server():
    """The real sandbox provider, served by gunicorn (one sync worker) in its own process."""
    port = _free_port()
    log_path = Path(tempfile.gettempdir()) / "reconcile_bench_sandbox.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).parent / "gunicorn"), "shop.wsgi:application", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=_prod_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the sandbox server did not start; see {log_path}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/psp-sandbox/"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def run() -> dict:
    """In the child: reconcile BENCH_DAY and report time, peak RSS and what was found."""
    from django.conf import settings
    from django.db import connection

    from payments.models import LedgerEntry
    from payments.reconciliation.items import reconciliation_summary
    from payments.reconciliation.runs import reconciliation_run

    started = time.monotonic()
    result = reconciliation_run(day=BENCH_DAY)
    seconds = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "day": BENCH_DAY.isoformat(),
        "database": connection.vendor,
        "debug": settings.DEBUG,
        "ledger_entries_total": LedgerEntry.objects.count(),
        "checked": result.checked,
        "status": result.status,
        "findings": reconciliation_summary(run=result),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="empty the database first (manage.py flush)")
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--run-only", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        from bench.infra import ensure_database

        url = os.environ.get("DATABASE_URL", "")
        if not url:
            raise SystemExit("reconcile_bench: set DATABASE_URL to a PostgreSQL database (made if missing)")
        ensure_database(url)
    setup()
    if args.child:
        print(json.dumps(run()))
        return
    from django.core.management import call_command

    if not args.run_only:
        call_command("migrate", verbosity=0)
        if args.fresh:
            call_command("flush", interactive=False, verbosity=0)
        if loaded():
            print(f"already loaded: {loaded()} bench orders (use --fresh to load again)")
        else:
            load(args.entries)
    if args.load_only:
        return
    with sandbox_server() as url:
        child = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--child"], capture_output=True, text=True,
            env=_prod_env(PAYMENT_GATEWAY_URL=url, PAYMENT_READ_TIMEOUT="60"),
        )
    if child.returncode != 0:
        raise SystemExit(f"the run failed:\n{child.stderr[-4000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))
    print(
        f"reconciliation of {result['day']} ({result['checked'].get('ledger_entries')} entries that day, "
        f"{result['ledger_entries_total']} in all): {result['seconds']} s, peak RSS {result['peak_rss_mb']} MB "
        f"(goal: < 60 s, < 300 MB)"
    )


if __name__ == "__main__":
    main()
