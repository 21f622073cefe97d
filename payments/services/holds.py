"""Payments held by fraud screening: finance staff release (charge now) or refuse them."""

from django.db import transaction
from django.utils import timezone

from payments.audit import audit_record
from payments.exceptions import PaymentErrorCode
from payments.gateway import Outcome
from payments.models import Payment, PaymentHold
from payments.services.charges import payment_charge_card, payment_settle
from shop.core.exceptions import InvalidTransition


def _hold_decide(*, hold_id: int, status: PaymentHold.Status, actor) -> PaymentHold:
    """Inside a transaction: lock the hold and record the decision; InvalidTransition once it was decided."""
    hold = PaymentHold.objects.select_for_update().get(pk=hold_id)
    if hold.status != PaymentHold.Status.HELD:
        raise InvalidTransition()
    hold.status = status
    hold.decided_at = timezone.now()
    hold.decided_by = actor if getattr(actor, "is_authenticated", False) else None
    hold.save(update_fields=["status", "decided_at", "decided_by"])
    return hold


def payment_hold_release(*, hold_id: int, actor, reason: str = "") -> Payment:
    """Release a held payment and charge it now. Makes an HTTP call: call outside any transaction."""
    with transaction.atomic():
        hold = _hold_decide(hold_id=hold_id, status=PaymentHold.Status.RELEASED, actor=actor)
        audit_record(actor=actor, action="payment_hold_release", obj=hold.payment, reason=reason or hold.reason)
    return payment_charge_card(payment_id=hold.payment_id)


def payment_hold_refuse(*, hold_id: int, actor, reason: str = "") -> Payment:
    """Refuse a held payment: it fails with `payment_refused` (its order is cancelled)."""
    with transaction.atomic():
        hold = _hold_decide(hold_id=hold_id, status=PaymentHold.Status.REFUSED, actor=actor)
        audit_record(actor=actor, action="payment_hold_refuse", obj=hold.payment, reason=reason or hold.reason)
        return payment_settle(
            payment_id=hold.payment_id,
            outcome=Outcome.DECLINED,
            error_code=PaymentErrorCode.PAYMENT_REFUSED,
            error=reason or hold.reason,
            notify_on_failure=True,
        )
