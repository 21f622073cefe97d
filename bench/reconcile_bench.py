"""Time the nightly reconciliation on a day with many ledger entries, and its peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_h8 \\
        .venv/bin/python bench/reconcile_bench.py --entries 1000000

Loads (once per database; `--load-only` / `--run-only` split the phases) a
day of balanced deposits from provider clearing into 1,000 wallets: two
entries per transaction, plain INSERTs through bulk_create, so the ledger's
append-only and balanced-at-commit triggers accept them (wallet balances are
then set to the sums of their entries with one UPDATE). The run itself goes
in a fresh child process so that its peak RSS (ru_maxrss) is the
reconciliation's, not the loader's. The provider's report comes from a local
stub answering an empty day over HTTP.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

PREFIX = "bench-rec-"
WALLETS = 1000
BATCH = 10_000


def setup():
    import django

    django.setup()


def load(entries: int) -> None:
    from decimal import Decimal

    from django.db import connection, reset_queries, transaction
    from django.db.models import OuterRef, Subquery, Sum

    from accounts.models import User
    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
    from payments.services import ledger_system_account

    existing = LedgerEntry.objects.filter(transaction__reference__startswith=PREFIX).count()
    if existing >= entries:
        print(f"already loaded: {existing} bench entries")
        return
    started = time.monotonic()
    users = list(User.objects.filter(email__startswith=PREFIX).order_by("id"))
    if len(users) < WALLETS:
        User.objects.bulk_create(
            [User(email=f"{PREFIX}{n}@example.com") for n in range(len(users), WALLETS)], batch_size=BATCH
        )
        users = list(User.objects.filter(email__startswith=PREFIX).order_by("id"))
    accounts = []
    for user in users:
        account, _created = LedgerAccount.objects.get_or_create(
            user=user, purpose=LedgerAccount.Purpose.CUSTOMER_WALLET, currency="USD"
        )
        Wallet.objects.get_or_create(user=user, currency="USD", defaults={"account": account})
        accounts.append(account)
    clearing = ledger_system_account(purpose=LedgerAccount.Purpose.PROVIDER_CLEARING, currency="USD")
    done = existing // 2
    total_tx = entries // 2
    while done < total_tx:
        size = min(BATCH // 2, total_tx - done)
        with transaction.atomic():
            txs = LedgerTransaction.objects.bulk_create(
                [
                    LedgerTransaction(reference=f"{PREFIX}{done + n}", kind=LedgerTransaction.Kind.DEPOSIT)
                    for n in range(size)
                ]
            )
            rows = []
            for n, tx in enumerate(txs):
                amount = Decimal(1 + (done + n) % 97) / 4
                account = accounts[(done + n) % len(accounts)]
                rows.append(LedgerEntry(transaction=tx, account=clearing, amount=-amount, currency="USD"))
                rows.append(LedgerEntry(transaction=tx, account=account, amount=amount, currency="USD"))
            LedgerEntry.objects.bulk_create(rows)
        done += size
        reset_queries()
        if done % 100_000 < size:
            print(f"  {done * 2} entries ({time.monotonic() - started:.0f} s)", flush=True)
    sums = (
        LedgerEntry.objects.filter(account_id=OuterRef("account_id"))
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    Wallet.objects.filter(user__email__startswith=PREFIX).update(balance=Subquery(sums))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE payments_ledgerentry; ANALYZE payments_ledgertransaction; ANALYZE payments_wallet")
    print(f"loaded {entries} entries in {time.monotonic() - started:.1f} s")


def run() -> dict:
    from django.conf import settings
    from django.utils import timezone

    from payments.models import LedgerEntry
    from payments.reconciliation import reconciliation_run
    from tests.payments.sandbox_fixtures import StubServer

    day = timezone.now().date()
    stub = StubServer([(200, {"date": day.isoformat(), "charges": [], "refunds": [], "payouts": []})])
    settings.PAYMENT_GATEWAY_URL = stub.url
    try:
        started = time.monotonic()
        result = reconciliation_run(day=day)
        seconds = time.monotonic() - started
    finally:
        stub.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "day": day.isoformat(),
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "ledger_entries_total": LedgerEntry.objects.count(),
        "checked": result.checked,
        "status": result.status,
        "discrepancies": result.discrepancy_count,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--run-only", action="store_true")
    args = parser.parse_args()
    if args.run_only:
        setup()
        print(json.dumps(run()))
        return
    setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    load(args.entries)
    if args.load_only:
        return
    child = subprocess.run(
        [sys.executable, __file__, "--run-only"], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))
    print(
        f"reconciliation of a day with {result['checked'].get('ledger_entries')} ledger entries: "
        f"{result['seconds']} s, peak RSS {result['peak_rss_mb']} MB (goal: < 60 s, < 300 MB)"
    )


if __name__ == "__main__":
    main()
