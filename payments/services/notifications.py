"""Failed wallet deposits: the shopper is e-mailed once."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from payments.models import (
    Payment,
)

logger = logging.getLogger(__name__)


def payment_failure_notify(*, payment_id: int) -> bool:
    """E-mail the shopper, once, that a wallet deposit failed; True when this call sent the mail.

    Only wallet deposits: an order's shopper is told by orders (its
    payment-failed handler). The payment row lock is held while the mail is
    sent and `failure_notified_at` is set in the same transaction, so two
    senders at once (the task kicked after the failure, the retry job's sweep)
    send once; a row another sender holds is skipped. A send that raises
    leaves the payment unmarked for the next sweep.
    """
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(
                pk=payment_id,
                status=Payment.Status.FAILED,
                purpose=Payment.Purpose.WALLET_DEPOSIT,
                failure_notified_at__isnull=True,
            )
            .first()
        )
        if payment is None:
            return False
        language = getattr(payment.user, "preferred_language", "") or settings.LANGUAGE_CODE
        with translation.override(language):
            context = {"payment": payment, "user": payment.user}
            subject = render_to_string("payments/email/payment_failed_subject.txt", context).strip()
            body = render_to_string("payments/email/payment_failed.txt", context)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.user.email])
        payment.failure_notified_at = timezone.now()
        payment.save(update_fields=["failure_notified_at", "updated_at"])
    return True


def payment_failure_notify_pending(*, limit: int = 100) -> int:
    """Send the failed-deposit e-mails not sent yet (a lost task, a mail server that was down); returns how many."""
    payment_ids = list(
        Payment.objects.filter(
            status=Payment.Status.FAILED, purpose=Payment.Purpose.WALLET_DEPOSIT, failure_notified_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for payment_id in payment_ids:
        try:
            sent += payment_failure_notify(payment_id=payment_id)
        except Exception:
            logger.exception("telling the shopper that deposit %s failed did not work; next sweep", payment_id)
    return sent
