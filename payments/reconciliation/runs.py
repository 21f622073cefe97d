"""One reconciliation run of one UTC day: the lock, the checks in turn, and the stored outcome.

Payments' own checks (the ledger, then the provider's report) run first,
then every check registered in `shop.core.reconciliation` by the app that
owns the tables it reads (orders, stock), in name order.
"""

import logging
import time
from contextlib import contextmanager
from datetime import UTC, date, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from payments.exceptions import ReconciliationRunning
from payments.models import ReconciliationItem, ReconciliationRun
from payments.reconciliation.items import ItemWriter
from payments.reconciliation.ledger import check_ledger
from payments.reconciliation.provider import check_provider
from shop.core.db import replica_reads
from shop.core.reconciliation import BATCH, reconciliation_checks

logger = logging.getLogger(__name__)

LOCK_SECONDS = 3600


def _run_checks(day: date, out: ItemWriter, checked: dict) -> None:
    """Payments' own checks, then the registered ones; `checked` gathers the rows each counted.

    Their reads may go to a replica (a closed day does not change); their repairs and findings
    are writes, which go to the primary, and so does whatever they read inside a transaction."""
    with replica_reads():
        checked.update(check_ledger(day, out))
        checked.update(check_provider(day, out))
        for _name, check in reconciliation_checks():
            checked.update(check(day=day, report=out.report))


def reconciliation_run(*, day: date, actor=None) -> ReconciliationRun:
    """Check `day` (UTC) and store its findings, replacing an earlier run of the same day.

    Makes an HTTP call (the provider's report) and may settle unknown payments
    through payment_settle: call outside any transaction. Raises
    ReconciliationRunning when the same day is being checked right now.
    """
    lock = f"payments:reconciliation:{day.isoformat()}"
    if not cache.add(lock, "1", timeout=LOCK_SECONDS):
        raise ReconciliationRunning()
    started = time.monotonic()
    run = ReconciliationRun.objects.create(day=day, triggered_by=actor if getattr(actor, "is_authenticated", False) else None)
    out = ItemWriter(run=run)
    checked: dict = {}
    try:
        try:
            with _batch_session():
                _run_checks(day, out, checked)
                out.flush()
        except Exception as exc:
            logger.exception("reconciliation of %s failed", day)
            run.status = ReconciliationRun.Status.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.duration_ms = int((time.monotonic() - started) * 1000)
            run.checked = checked
            run.save()
            raise
        run.checked = checked
        _finish(run, out, started)
    finally:
        cache.delete(lock)
    return run


@contextmanager
def _batch_session():
    """On PostgreSQL, room for the run's big joins and aggregates (no spills to disk) and no JIT
    (it costs more than it saves on these one-off scans); put back as it was afterwards."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '64MB'; SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem; RESET jit")


def _finish(run: ReconciliationRun, out: ItemWriter, started: float) -> None:
    """Carry staff resolutions over from the day's earlier runs, delete them, and close this run."""
    with transaction.atomic():
        earlier = ReconciliationRun.objects.filter(day=run.day).exclude(pk=run.pk)
        resolved = (
            ReconciliationItem.objects.filter(run__in=earlier, resolved=True, auto_repaired=False)
            .values("kind", "object_type", "object_id", "resolved_by_id", "resolved_at", "resolution_note")
            .order_by("id")
        )
        for previous in resolved.iterator(chunk_size=BATCH):
            ReconciliationItem.objects.filter(
                run=run, kind=previous["kind"], object_type=previous["object_type"], object_id=previous["object_id"],
                resolved=False,
            ).update(
                resolved=True,
                resolved_by_id=previous["resolved_by_id"],
                resolved_at=previous["resolved_at"],
                resolution_note=previous["resolution_note"],
            )
        earlier.delete()
        open_count = run.items.filter(resolved=False).count()
        if open_count:
            run.status = ReconciliationRun.Status.DISCREPANCIES
        elif out.by_kind:
            run.status = ReconciliationRun.Status.REPAIRED
        else:
            run.status = ReconciliationRun.Status.CLEAN
        run.discrepancy_count = out.open_count
        run.repaired_count = out.repaired
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save()


def reconciliation_yesterday() -> date:
    """The UTC day before today: what the nightly job checks."""
    return (timezone.now().astimezone(UTC) - timedelta(days=1)).date()
