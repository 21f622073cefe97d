"""Velocity checks on card payments: too many attempts or declines per user or card token in a window.

This module only evaluates the rules (reads) and takes the screening lock.
Screening is a step of every card charge: `payments.services.screening.payment_screen`
records the verdict and `payments.services.charges.payment_charge_card` acts on
it. A rule that says "refuse" fails the payment with `payment_refused` (the
order is cancelled by the usual failure handler); "hold" keeps the payment
pending with a `PaymentHold` until finance staff release it (the charge then
proceeds) or refuse it (payments.services.holds).

Screenings of one user (and of one card token) are serialized: each takes a
lock for its scopes (a PostgreSQL advisory transaction lock per user and per
token; on SQLite a first write, which takes the database's one write lock),
counts, and records its verdict (`PaymentScreening`) before the lock goes.
A payment that passed and has no outcome yet is in flight and counts as a
possible decline for the next screening, so a burst of concurrent payments
cannot all slip under a declines limit before the first decline lands.

"Declines" are card declines only (`DECLINE_CODES`): a fraud refusal, a
provider error, a timeout or a cancelled order is not the card saying no.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from payments.models import FraudRule, Payment, PaymentHold, PaymentScreening

# What a card network says when it refuses a card (the sandbox scripts the first two).
DECLINE_CODES = frozenset({
    "card_declined", "insufficient_funds", "expired_card", "incorrect_cvc", "incorrect_number", "invalid_cvc",
    "lost_card", "stolen_card", "do_not_honor", "fraudulent", "pickup_card", "restricted_card",
    "card_velocity_exceeded", "generic_decline",
})
IN_FLIGHT = (Payment.Status.PENDING, Payment.Status.PROCESSING, Payment.Status.UNKNOWN)


def _scope_filter(rule: FraudRule, payment: Payment) -> Q:
    return Q(user_id=payment.user_id) if rule.scope == FraudRule.Scope.USER else Q(card_token=payment.card_token)


def fraud_rule_hit(*, payment: Payment, rules: list[FraudRule] | None = None) -> FraudRule | None:
    """The first active rule (refusing rules first) that this card payment breaks, or None.

    Attempts: card payments of the scope created in the window, this one
    included. Declines: card declines in the window, plus attempts that
    passed screening and have no outcome yet (they may still be declined).
    Call under `screening_lock` for the count to hold.
    """
    if rules is None:
        rules = fraud_rules_active()
    for rule in rules:
        if rule.scope == FraudRule.Scope.TOKEN and not payment.card_token:
            continue
        if rule.scope == FraudRule.Scope.USER and payment.user_id is None:
            continue  # a guest's payment: all guests are not one user (the card-token rules still apply)
        since = timezone.now() - timedelta(minutes=rule.window_minutes)
        others = ~Q(pk=payment.pk)
        counts = Payment.objects.filter(
            _scope_filter(rule, payment), method=Payment.Method.CARD, created_at__gte=since
        ).aggregate(
            attempts=Count("id"),
            declines=Count("id", filter=others & Q(status=Payment.Status.FAILED, last_error_code__in=DECLINE_CODES)),
            in_flight=Count(
                "id",
                filter=others & Q(status__in=IN_FLIGHT)
                & (Q(screening__verdict=PaymentScreening.Verdict.PASS) | Q(hold__status=PaymentHold.Status.RELEASED)),
            ),
        )
        if rule.max_attempts is not None and counts["attempts"] > rule.max_attempts:
            return rule
        if rule.max_declines is not None and counts["declines"] + counts["in_flight"] >= rule.max_declines:
            return rule
    return None


def fraud_rules_active() -> list[FraudRule]:
    """The active rules, refusing rules first."""
    rules = list(FraudRule.objects.filter(active=True).order_by("id"))
    rules.sort(key=lambda rule: rule.action != FraudRule.Verdict.REFUSE)  # refusing rules first
    return rules


@contextmanager
def screening_lock(*, payment: Payment, scopes: set[str]):
    """A transaction holding the screening lock of the payment's user and/or card token until it ends.

    PostgreSQL: advisory transaction locks, user before token (one order, no
    deadlocks). SQLite: a first write takes the database's single write lock,
    so screenings run one at a time (SQLite has one writer anyway).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            keys = []
            if FraudRule.Scope.USER in scopes and payment.user_id is not None:
                keys.append(f"payments.fraud:user:{payment.user_id}")
            if FraudRule.Scope.TOKEN in scopes and payment.card_token:
                keys.append(f"payments.fraud:token:{payment.card_token}")
            with connection.cursor() as cursor:
                for key in keys:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
        else:
            Payment.objects.filter(pk=payment.pk).update(card_token=payment.card_token)
        yield
