"""Velocity checks on card payments: too many attempts or declines per user or card token in a window.

`payment_screen` runs at the start of every card charge
(`payments.services.payment_charge_card`). A rule that says "refuse" fails
the payment with `payment_refused` (the order is cancelled by the usual
failure handler); "hold" keeps the payment pending with a `PaymentHold`
until finance staff release it (the charge then proceeds) or refuse it.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payments.audit import audit_record
from payments.models import FraudRule, Payment, PaymentHold
from shop.exceptions import InvalidTransition, ShopError

REFUSED_CODE = "payment_refused"


class PaymentRefused(ShopError):
    code = REFUSED_CODE
    status_code = 402
    default_message = _("This payment was refused by our fraud checks. Please contact support.")


def fraud_rule_hit(*, payment: Payment) -> FraudRule | None:
    """The first active rule (refusing rules first) that this card payment breaks, or None."""
    rules = list(FraudRule.objects.filter(active=True).order_by("action", "id"))  # "hold" < "refuse"
    rules.sort(key=lambda rule: rule.action != FraudRule.Verdict.REFUSE)
    for rule in rules:
        since = timezone.now() - timedelta(minutes=rule.window_minutes)
        scope = Q(user_id=payment.user_id) if rule.scope == FraudRule.Scope.USER else Q(card_token=payment.card_token)
        if rule.scope == FraudRule.Scope.TOKEN and not payment.card_token:
            continue
        counts = Payment.objects.filter(scope, method=Payment.Method.CARD, created_at__gte=since).aggregate(
            attempts=Count("id"),
            declines=Count("id", filter=Q(status=Payment.Status.FAILED) & ~Q(pk=payment.pk)),
        )
        if rule.max_attempts is not None and counts["attempts"] > rule.max_attempts:
            return rule
        if rule.max_declines is not None and counts["declines"] >= rule.max_declines:
            return rule
    return None


def payment_screen(*, payment_id: int) -> bool:
    """Apply the fraud rules to a pending card payment; True when it must not be charged now.

    A payment whose hold was released passes without a new check. Call
    outside any transaction (as payment_charge_card is).
    """
    from payments import services

    payment = Payment.objects.filter(pk=payment_id).select_related("hold").first()
    if payment is None or payment.status != Payment.Status.PENDING or payment.method != Payment.Method.CARD:
        return False
    hold = getattr(payment, "hold", None)
    if hold is not None:
        return hold.status != PaymentHold.Status.RELEASED
    rule = fraud_rule_hit(payment=payment)
    if rule is None:
        return False
    reason = f"{rule.name}: {rule.get_scope_display()} velocity"
    if rule.action == FraudRule.Verdict.HOLD:
        with transaction.atomic():
            PaymentHold.objects.get_or_create(payment=payment, defaults={"rule": rule, "reason": reason[:255]})
        return True
    services.payment_settle(
        payment_id=payment.pk, outcome="declined", error_code=REFUSED_CODE, error=reason, notify_on_failure=True
    )
    return True


def payment_hold_release(*, hold_id: int, actor, reason: str = "") -> Payment:
    """Release a held payment and charge it now. Makes an HTTP call: call outside any transaction."""
    from payments import services

    with transaction.atomic():
        hold = PaymentHold.objects.select_for_update().get(pk=hold_id)
        if hold.status != PaymentHold.Status.HELD:
            raise InvalidTransition()
        hold.status = PaymentHold.Status.RELEASED
        hold.decided_at = timezone.now()
        hold.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        hold.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(actor=actor, action="payment_hold_release", obj=hold.payment, reason=reason or hold.reason)
    return services.payment_charge_card(payment_id=hold.payment_id)


def payment_hold_refuse(*, hold_id: int, actor, reason: str = "") -> Payment:
    """Refuse a held payment: it fails with `payment_refused` (its order is cancelled)."""
    from payments import services

    with transaction.atomic():
        hold = PaymentHold.objects.select_for_update().get(pk=hold_id)
        if hold.status != PaymentHold.Status.HELD:
            raise InvalidTransition()
        hold.status = PaymentHold.Status.REFUSED
        hold.decided_at = timezone.now()
        hold.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        hold.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(actor=actor, action="payment_hold_refuse", obj=hold.payment, reason=reason or hold.reason)
        return services.payment_settle(
            payment_id=hold.payment_id, outcome="declined", error_code=REFUSED_CODE, error=reason or hold.reason,
            notify_on_failure=True,
        )
