"""Fraud screening, the first step of every card charge (charges.payment_charge_card).

The rules are evaluated by payments.fraud (reads only); this step records the
verdict (`PaymentScreening`) and, for a holding rule, the `PaymentHold`, and
tells the charge what to do. A refusal is applied by the charge service itself
(it fails the payment with `payment_refused`), so screening calls no charge or
settle service.
"""

from dataclasses import dataclass

from payments.fraud import fraud_rule_hit, fraud_rules_active, screening_lock
from payments.models import FraudRule, Payment, PaymentHold, PaymentScreening


@dataclass(frozen=True)
class Screening:
    """A screening's verdict for the charge: PASS charges now, HOLD waits for staff, REFUSE fails the payment."""

    verdict: PaymentScreening.Verdict
    reason: str = ""


def payment_screen(*, payment_id: int) -> Screening:
    """Apply the fraud rules to a pending card payment and record the verdict.

    A payment that is not a pending card payment, or whose hold was released,
    passes without a new check; one with an undecided or refused hold is held.
    Takes the screening lock of the payment's user/token (see
    payments.fraud.screening_lock); call outside any transaction (as
    payment_charge_card is).
    """
    payment = Payment.objects.filter(pk=payment_id).select_related("hold").first()
    if payment is None or payment.status != Payment.Status.PENDING or payment.method != Payment.Method.CARD:
        return Screening(PaymentScreening.Verdict.PASS)
    hold = getattr(payment, "hold", None)
    if hold is not None:
        if hold.status == PaymentHold.Status.RELEASED:
            return Screening(PaymentScreening.Verdict.PASS)
        return Screening(PaymentScreening.Verdict.HOLD, hold.reason)
    rules = fraud_rules_active()
    if not rules:
        return Screening(PaymentScreening.Verdict.PASS)
    with screening_lock(payment=payment, scopes={rule.scope for rule in rules}):
        return _screening_record(payment, fraud_rule_hit(payment=payment, rules=rules))


def _screening_record(payment: Payment, rule: FraudRule | None) -> Screening:
    """Inside the screening lock: record the verdict of `rule` (None: passed) and open a hold when it holds."""
    if rule is None:
        PaymentScreening.objects.update_or_create(
            payment=payment, defaults={"verdict": PaymentScreening.Verdict.PASS, "rule": None}
        )
        return Screening(PaymentScreening.Verdict.PASS)
    reason = f"{rule.name}: {rule.get_scope_display()} velocity"
    if rule.action == FraudRule.Verdict.HOLD:
        PaymentScreening.objects.update_or_create(
            payment=payment, defaults={"verdict": PaymentScreening.Verdict.HOLD, "rule": rule}
        )
        PaymentHold.objects.get_or_create(payment=payment, defaults={"rule": rule, "reason": reason[:255]})
        return Screening(PaymentScreening.Verdict.HOLD, reason)
    PaymentScreening.objects.update_or_create(
        payment=payment, defaults={"verdict": PaymentScreening.Verdict.REFUSE, "rule": rule}
    )
    return Screening(PaymentScreening.Verdict.REFUSE, reason)
