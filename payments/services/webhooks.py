"""Provider events: recorded once by id and applied through the settle services."""

import uuid

from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _

from payments.gateway import Outcome, ProviderEvent, get_gateway
from payments.models import (
    Payment,
    PaymentAttempt,
    Refund,
    WebhookEvent,
    Withdrawal,
)
from payments.services.attempts import attempt_record
from payments.services.charges import payment_settle
from payments.services.payouts import withdrawal_settle
from payments.services.refunds import refund_settle


class WebhookResult(models.TextChoices):
    """What applying a provider event did: a duplicate, nothing, or the status it left the payment,
    payout or refund in (WebhookEvent.result)."""

    DUPLICATE = "duplicate", _("Duplicate")
    IGNORED = "ignored", _("Ignored")
    UNCONFIRMED = "unconfirmed", _("Unconfirmed")
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    UNKNOWN = "unknown", _("Unknown")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")


def webhook_event_apply(*, event: dict) -> WebhookResult:
    """Record a verified provider event once (by id) and apply it through the settle services.

    A success event is applied as it says. A failure event for a payment or
    payout that is not final yet is confirmed first: the provider is asked for
    the charge (payout) by idempotency key, outside any transaction, and what
    it says now is applied. Events arrive out of order (an older failure
    after a newer success of the same key, or a failure the provider no
    longer stands by), and only the provider's current state may fail a
    payment or reverse a payout. When the provider has nothing for the key or
    does not answer, nothing is settled ("unconfirmed"): the row is still in
    the retry job's sweep, which asks again. The event is recorded in the
    transaction that applies it. Returns what happened (a WebhookResult):
    duplicate, ignored, unconfirmed, or the resulting status.
    """
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    key = str(data.get("idempotency_key") or "")
    confirmation = None
    if event_type in (ProviderEvent.CHARGE_FAILED, ProviderEvent.PAYOUT_FAILED) and not WebhookEvent.objects.filter(event_id=event_id).exists():
        confirmation = _webhook_failure_confirm(event_type=event_type, key=key)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(event_id=event_id, type=event_type, payload=event)
        except IntegrityError:
            return WebhookResult.DUPLICATE
        result = _webhook_event_settle(event_type=event_type, data=data, key=key, confirmation=confirmation)
        record.result = result
        record.save(update_fields=["result"])
        return result


def _webhook_failure_confirm(*, event_type: str, key: str):
    """The provider's current answer for the payment or payout a failure event names; None when it is final here."""
    gateway = get_gateway()
    if event_type == ProviderEvent.CHARGE_FAILED:
        payment = Payment.objects.filter(provider_key=key).first() if key else None
        if payment is None or payment.is_final:
            return None
        lookup = gateway.get_charge(idempotency_key=key)
        attempt_record(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, payment=payment)
        return lookup
    withdrawal = Withdrawal.objects.filter(uid=_uid_from_key(key, "payout-")).first() if key else None
    if withdrawal is None or withdrawal.status != Withdrawal.Status.PROCESSING:
        return None
    lookup = gateway.get_payout(idempotency_key=key)
    attempt_record(kind=PaymentAttempt.Kind.LOOKUP, result=lookup, withdrawal=withdrawal)
    return lookup


def _webhook_outcome(*, succeeded: bool, data: dict, confirmation) -> dict | None:
    """What to settle for an event: a success as it says; a failure as the provider now confirms it (None: nothing)."""
    provider_id = str(data.get("id") or "")
    if succeeded:
        return {"outcome": Outcome.SUCCEEDED, "provider_id": provider_id}
    if confirmation is None:  # final here when the event came: applying it changes nothing
        return {"outcome": Outcome.DECLINED, "provider_id": provider_id, "error_code": str(data.get("failure_code") or "")}
    if confirmation.outcome in (Outcome.SUCCEEDED, Outcome.DECLINED):
        return {
            "outcome": confirmation.outcome,
            "provider_id": confirmation.provider_id or provider_id,
            "error_code": confirmation.error_code or "",
            "error": confirmation.error or "",
        }
    return None


def _webhook_event_settle(*, event_type: str, data: dict, key: str, confirmation) -> WebhookResult:
    if event_type in (ProviderEvent.CHARGE_SUCCEEDED, ProviderEvent.CHARGE_FAILED):
        payment = Payment.objects.filter(provider_key=key).first() if key else None
        if payment is None:
            return WebhookResult.IGNORED
        settle = _webhook_outcome(
            succeeded=event_type == ProviderEvent.CHARGE_SUCCEEDED, data=data, confirmation=confirmation
        )
        if settle is None:
            return WebhookResult.UNCONFIRMED
        return WebhookResult(payment_settle(payment_id=payment.pk, notify_on_failure=True, **settle).status)
    if event_type in (ProviderEvent.PAYOUT_SUCCEEDED, ProviderEvent.PAYOUT_FAILED):
        withdrawal = Withdrawal.objects.filter(uid=_uid_from_key(key, "payout-")).first() if key else None
        if withdrawal is None:
            return WebhookResult.IGNORED
        settle = _webhook_outcome(
            succeeded=event_type == ProviderEvent.PAYOUT_SUCCEEDED, data=data, confirmation=confirmation
        )
        if settle is None:
            return WebhookResult.UNCONFIRMED
        return WebhookResult(withdrawal_settle(withdrawal_id=withdrawal.pk, **settle).status)
    if event_type == ProviderEvent.REFUND_SUCCEEDED:
        refund = Refund.objects.filter(uid=_uid_from_key(key, "refund-")).first() if key else None
        if refund is None:
            return WebhookResult.IGNORED
        refund = refund_settle(refund_id=refund.pk, outcome=Outcome.SUCCEEDED, provider_id=str(data.get("id") or ""))
        return WebhookResult(refund.status)
    return WebhookResult.IGNORED


def _uid_from_key(key: str, prefix: str):
    if not key.startswith(prefix):
        return None
    try:
        return uuid.UUID(key[len(prefix) :])
    except ValueError:
        return None
