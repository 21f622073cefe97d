"""Celery tasks of the payments app; each loads by id and calls one service."""

from datetime import date

from celery import shared_task

from payments.idempotency import idempotency_key_prune
from payments.reconciliation.runs import reconciliation_run, reconciliation_yesterday
from payments.services.notifications import payment_failure_notify
from payments.services.refunds import refund_retry
from payments.services.sweep import payment_retry_stuck


@shared_task(name="payments.tasks.retry_stuck_payments")
def retry_stuck_payments() -> int:
    """Every minute: settle or retry payments, payouts and refunds whose next_retry_at has passed,
    then e-mail failed deposits whose shopper was not told yet."""
    return payment_retry_stuck()


@shared_task(name="payments.tasks.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Hourly: forget API idempotency keys older than 24 hours."""
    return idempotency_key_prune()


@shared_task(name="payments.tasks.send_refund")
def send_refund(refund_id: int) -> None:
    """Try a pending refund now (e.g. a late charge just found); the retry job drives it if this fails."""
    refund_retry(refund_id=refund_id)


@shared_task(name="payments.tasks.send_payment_failed_email")
def send_payment_failed_email(payment_id: int) -> bool:
    """Tell the shopper a wallet deposit failed, once (the retry job sends any this task did not)."""
    return payment_failure_notify(payment_id=payment_id)


@shared_task(name="payments.tasks.nightly_reconciliation")
def nightly_reconciliation(day: str | None = None) -> dict:
    """Daily (time in CELERY_BEAT_SCHEDULE): reconcile yesterday (UTC), or `day` (YYYY-MM-DD)."""
    run = reconciliation_run(day=date.fromisoformat(day) if day else reconciliation_yesterday())
    return {"run": run.pk, "day": run.day.isoformat(), "status": run.status, "open": run.discrepancy_count}
