"""Celery tasks of the payments app; each loads by id and calls one service."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from payments import services
from payments.models import Payment


@shared_task(name="payments.tasks.retry_stuck_payments")
def retry_stuck_payments() -> int:
    """Every minute: settle or retry payments and payouts whose next_retry_at has passed."""
    return services.payment_retry_stuck()


@shared_task(name="payments.tasks.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Hourly: forget API idempotency keys older than 24 hours."""
    return services.idempotency_key_prune()


@shared_task(name="payments.tasks.reverse_late_charge")
def reverse_late_charge(payment_id: int, charge_id: str) -> None:
    """Give back a charge the provider made after the payment had failed here."""
    services.payment_reverse_late_charge(payment_id=payment_id, charge_id=charge_id)


@shared_task(name="payments.tasks.send_payment_failed_email")
def send_payment_failed_email(payment_id: int) -> None:
    """Tell the shopper a payment finally failed (sent after the failure is committed)."""
    payment = Payment.objects.select_related("user").filter(pk=payment_id).first()
    if payment is None or payment.status != Payment.Status.FAILED:
        return
    language = getattr(payment.user, "preferred_language", "") or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {"payment": payment, "user": payment.user}
        subject = render_to_string("payments/email/payment_failed_subject.txt", context).strip()
        body = render_to_string("payments/email/payment_failed.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.user.email])


@shared_task(name="payments.tasks.nightly_reconciliation")
def nightly_reconciliation(day: str | None = None) -> dict:
    """Daily (time in CELERY_BEAT_SCHEDULE): reconcile yesterday (UTC), or `day` (YYYY-MM-DD)."""
    from datetime import date

    from payments.reconciliation import reconciliation_run, reconciliation_yesterday

    run = reconciliation_run(day=date.fromisoformat(day) if day else reconciliation_yesterday())
    return {"run": run.pk, "day": run.day.isoformat(), "status": run.status, "open": run.discrepancy_count}
