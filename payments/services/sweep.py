"""The retry job: one round for each due payment, payout and refund, claimed one row at a time."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.breaker import breaker_is_refusing
from payments.gateway import Outcome, PaymentAttemptError, get_gateway
from payments.models import (
    Payment,
    PaymentAttempt,
    Refund,
    Withdrawal,
)
from payments.services.attempts import attempt_record, round_claim
from payments.services.charges import payment_charge_send, payment_settle
from payments.services.notifications import payment_failure_notify_pending
from payments.services.payouts import withdrawal_retry_claimed
from payments.services.refunds import refund_retry_claimed

logger = logging.getLogger(__name__)


def payment_retry(*, payment_id: int) -> Payment:
    """One retry round for a processing/unknown payment: ask the provider first, charge again only if it has none.

    Call outside any transaction (HTTP). Claims the round under the payment
    row lock (attempt counted, leased past the provider call). The charge
    reuses the payment's provider key, so the provider can never charge it
    twice.

    When a payment is given up: only when the provider has definitively said
    it holds no charge for our key. After the last attempt
    (PAYMENT_MAX_ATTEMPTS rounds), a lookup answering `not_found` fails the
    payment and we stop charging for good (a charge that still lands later is
    refunded: see _late_charge_refund_open); so does a last charge refused
    before processing right after such a lookup. A lookup that gets no answer
    (provider unreachable, timeout, 5xx) never fails it: the payment stays
    `unknown` (processing ones become unknown) and keeps being looked up with
    a backoff capped at RETRY_MAX_SECONDS (at most hourly), so `next_retry_at`
    keeps it in the retry job's sweep and staff see it as stuck in unknown,
    while its order keeps its stock reserved.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in Payment.OPEN_STATUSES:
            return payment
        round_claim(payment)
    return _payment_retry_claimed(payment)


def _payment_retry_claimed(payment: Payment) -> Payment:
    gateway = get_gateway()
    lookup = gateway.get_charge(idempotency_key=payment.provider_key)
    attempt_record(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment)
    if lookup.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED):
        return payment_settle(
            payment_id=payment.pk,
            outcome=lookup.outcome,
            provider_id=lookup.provider_id or "",
            error_code=lookup.error_code or "",
            error=lookup.error or "",
            notify_on_failure=True,
        )
    if lookup.outcome != Outcome.NOT_FOUND:
        # The provider could not be asked: do not charge blind, do not guess; ask again later.
        return payment_settle(
            payment_id=payment.pk,
            outcome=Outcome.UNKNOWN,
            error_code=lookup.error_code or PaymentAttemptError.LOOKUP_FAILED,
            error=lookup.error or "",
            notify_on_failure=True,
        )
    if payment.attempt_count > settings.PAYMENT_MAX_ATTEMPTS:
        return payment_settle(
            payment_id=payment.pk,
            outcome=Outcome.NOT_FOUND,
            error_code=PaymentAttemptError.MAX_ATTEMPTS,
            error="the provider has no charge for this payment after the last attempt",
            notify_on_failure=True,
        )
    return payment_charge_send(payment=payment, notify_on_failure=True)


def _round_claim_next(due):
    """Claim the first row of `due` no other worker holds (select_for_update(skip_locked=True)); None when none."""
    with transaction.atomic():
        row = due.select_for_update(skip_locked=True).order_by("next_retry_at", "pk").first()
        if row is not None:
            round_claim(row)
        return row


def payment_retry_stuck(*, now: datetime | None = None, limit: int = 100) -> int:
    """The retry job: one round for each due processing/unknown card payment, processing payout and pending refund.

    Due means next_retry_at <= `now`. Rows are claimed one at a time: one
    due row is taken with select_for_update(skip_locked=True), its round is
    counted and it is leased (next_retry_at moved past one provider call)
    before its lock is released, and only then is the provider called; so a
    lease covers one call however long the sweep runs, and two workers at
    once never take the same row. A row changed since this sweep began (by
    this or another worker, or a webhook) waits for the next sweep: one
    sweep gives a row at most one round. At most `limit` rounds per kind.
    Then failed deposits whose shopper was not told yet are e-mailed.
    While the provider's breaker refuses calls (open, or its probe in
    flight), no round starts: the sweep pauses instead of hammering a
    provider that is down; in a half-open breaker the first round is the probe.
    Returns how many rounds ran.
    """
    now = now or timezone.now()
    started = timezone.now()
    kinds = (
        (
            "payment",
            Payment.objects.filter(status__in=Payment.OPEN_STATUSES, method=Payment.Method.CARD),
            _payment_retry_claimed,
        ),
        ("withdrawal", Withdrawal.objects.filter(status=Withdrawal.Status.PROCESSING), withdrawal_retry_claimed),
        ("refund", Refund.objects.filter(status=Refund.Status.PENDING), refund_retry_claimed),
    )
    rounds, paused = 0, False
    for label, open_rows, retry in kinds:
        due = open_rows.filter(next_retry_at__lte=now, updated_at__lt=started)
        for _round in range(limit):
            paused = paused or breaker_is_refusing()
            if paused:
                break
            row = _round_claim_next(due)
            if row is None:
                break
            rounds += 1
            try:
                retry(row)
            except Exception:
                logger.exception("retrying %s %s failed", label, row.pk)
    if paused:
        logger.warning("retry sweep paused after %s rounds: the provider's circuit breaker is open", rounds)
    payment_failure_notify_pending(limit=limit)
    return rounds
