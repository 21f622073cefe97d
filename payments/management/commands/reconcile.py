"""python manage.py reconcile [--date YYYY-MM-DD]: reconcile one day now.

Exit status: 0 clean, 1 discrepancies remain (or the run failed), 2 when a run
of the same day is already going (one line on stderr, no traceback).
"""

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from payments.exceptions import ReconciliationRunning
from payments.models import ReconciliationRun
from payments.reconciliation.items import reconciliation_summary
from payments.reconciliation.runs import reconciliation_run, reconciliation_yesterday

EXIT_RUNNING = 2


class Command(BaseCommand):
    help = "Reconcile the ledger, the provider's settlement report, orders and stock for one UTC day."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (UTC); default: yesterday")

    def handle(self, *args, **options):
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError("--date must be YYYY-MM-DD")
        else:
            day = reconciliation_yesterday()
        try:
            run = reconciliation_run(day=day)
        except ReconciliationRunning:
            raise CommandError(
                f"A reconciliation of {day} is already running; try again when it has finished.",
                returncode=EXIT_RUNNING,
            )
        rows = reconciliation_summary(run=run)
        width = max([len(label) for _kind, label, _open, _repaired in rows] + [len("(no discrepancies)")])
        self.stdout.write(f"Reconciliation of {day}: {run.get_status_display()} ({run.duration_ms} ms)")
        self.stdout.write(f"checked: {', '.join(f'{k}={v}' for k, v in run.checked.items())}")
        self.stdout.write(f"{'kind'.ljust(width)}  {'open':>6}  {'repaired':>8}")
        self.stdout.write(f"{'-' * width}  {'-' * 6}  {'-' * 8}")
        for _kind, label, open_count, repaired in rows:
            self.stdout.write(f"{label.ljust(width)}  {open_count:>6}  {repaired:>8}")
        if not rows:
            self.stdout.write(f"{'(no discrepancies)'.ljust(width)}  {0:>6}  {0:>8}")
        self.stdout.flush()
        if run.status in (ReconciliationRun.Status.DISCREPANCIES, ReconciliationRun.Status.FAILED):
            sys.exit(1)
