"""Writes of the sandbox provider: charges, refunds, payouts and their webhook events.

Every write is idempotent per idempotency key: the unique constraint decides
which of two concurrent identical requests creates the object; the other one
catches the IntegrityError and returns the object the first one created.
Webhooks leave only after the object is committed (`transaction.on_commit`).
"""

import json
import logging
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from djmoney.money import Money

from . import signing
from .exceptions import (
    IdempotencyKeyReused,
    InvalidToken,
    ObjectNotFound,
    ProcessingError,
    RefundExceedsCharge,
    RefundNotPossible,
    SandboxError,
    SandboxErrorCode,
)
from .models import (
    SandboxCharge,
    SandboxEvent,
    SandboxPayout,
    SandboxRefund,
    SandboxScriptCounter,
    SandboxStatus,
    event_id,
)
from .selectors import charge_as_dict, charge_refunded_total, payout_as_dict, refund_as_dict

logger = logging.getLogger(__name__)

OUTAGE_KEY = "psp_sandbox:outage_until"
OUTAGE_MAX_SECONDS = 24 * 3600
WEBHOOK_FIRST_DELAY = 0.2
WEBHOOK_RETRY_DELAYS = (0.5, 1.0, 2.0)  # after attempts 1, 2, 3; four attempts in all
WEBHOOK_TIMEOUT = (2.0, 5.0)
FLAKY_FAILURES = 2


@dataclass(frozen=True)
class TokenScript:
    """What a card token makes the sandbox do."""

    failure_code: str = ""  # non-empty: the charge/payout is declined with this code
    fail_before: str = ""  # "always" (tok_error) or "flaky" (tok_flaky): 503 before charging
    delay: str = ""  # "timeout" (answer after the read timeout) or "slow" (just under it)
    payouts_only: bool = False  # the script applies to payouts; charges with the token succeed


TOKENS = {
    "tok_ok": TokenScript(),
    "tok_declined": TokenScript(failure_code="card_declined"),
    "tok_insufficient": TokenScript(failure_code="insufficient_funds"),
    "tok_timeout": TokenScript(delay="timeout"),
    "tok_error": TokenScript(fail_before="always"),
    "tok_flaky": TokenScript(fail_before="flaky"),
    "tok_slow": TokenScript(delay="slow"),
    # Cards that fund a wallet fine but refuse the money back (closed card, payout limits).
    "tok_payout_declined": TokenScript(failure_code="card_declined", payouts_only=True),
    "tok_payout_error": TokenScript(fail_before="always", payouts_only=True),
}


def token_script(token: str) -> TokenScript:
    """The script of a known token; anything else (and never a card number) is refused."""
    try:
        return TOKENS[token]
    except (KeyError, TypeError):
        raise InvalidToken(field="token")


def response_delay(script: TokenScript) -> float:
    """Seconds to wait before answering a freshly created object (tok_timeout, tok_slow)."""
    if script.delay == "timeout":
        return settings.PAYMENT_READ_TIMEOUT + 1
    if script.delay == "slow":
        return max(0.0, settings.PAYMENT_READ_TIMEOUT - 0.5)
    return 0.0


def _script_fail_before(*, script: TokenScript, operation: str, idempotency_key: str) -> None:
    """Raise ProcessingError (nothing charged) when the token says this call fails."""
    if script.fail_before == "always":
        raise ProcessingError()
    if script.fail_before == "flaky":
        counter, _ = SandboxScriptCounter.objects.get_or_create(
            operation=operation, idempotency_key=idempotency_key
        )
        SandboxScriptCounter.objects.filter(pk=counter.pk).update(calls=F("calls") + 1)
        counter.refresh_from_db(fields=["calls"])
        if counter.calls <= FLAKY_FAILURES:
            raise ProcessingError()


def _same_request(obj, **params) -> None:
    """A replayed key must carry the same parameters as the first request."""
    for name, value in params.items():
        if getattr(obj, name) != value:
            raise IdempotencyKeyReused(field=name)


def charge_create(
    *,
    idempotency_key: str,
    amount: Money,
    token: str,
    reference: str = "",
    description: str = "",
    webhook_url: str = "",
) -> tuple[SandboxCharge, bool]:
    """Charge a card token once per idempotency key; returns (charge, created).

    A declined charge is recorded too (status failed). tok_error/tok_flaky raise
    ProcessingError before anything is written.
    """
    existing = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        _same_request(existing, amount=amount, token=token, reference=reference)
        return existing, False
    script = token_script(token)
    if script.payouts_only:
        script = TokenScript()
    _script_fail_before(script=script, operation="charge", idempotency_key=idempotency_key)
    status = SandboxStatus.FAILED if script.failure_code else SandboxStatus.SUCCEEDED
    try:
        with transaction.atomic():
            charge = SandboxCharge.objects.create(
                idempotency_key=idempotency_key,
                amount=amount,
                token=token,
                reference=reference,
                description=description,
                status=status,
                failure_code=script.failure_code,
            )
            event_build(type=f"charge.{status}", obj=charge_as_dict(charge), target_url=webhook_url)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its charge.
        existing = SandboxCharge.objects.get(idempotency_key=idempotency_key)
        _same_request(existing, amount=amount, token=token, reference=reference)
        return existing, False
    return charge, True


def refund_create(
    *, idempotency_key: str, charge_id: str, amount: Money, reference: str = "", webhook_url: str = ""
) -> tuple[SandboxRefund, bool]:
    """Refund part or all of a succeeded charge once per idempotency key; returns (refund, created).

    Takes the charge row lock, so concurrent refunds never exceed the charged amount.
    """
    existing = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        _same_request(existing, charge_id=charge_id, amount=amount)
        return existing, False
    try:
        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().filter(pk=charge_id).first()
            if charge is None:
                raise ObjectNotFound(field="charge")
            if charge.status != SandboxStatus.SUCCEEDED:
                raise RefundNotPossible(field="charge")
            if amount.currency != charge.amount.currency:
                raise SandboxError(field="currency", code=SandboxErrorCode.CURRENCY_MISMATCH)
            if charge_refunded_total(charge) + amount.amount > charge.amount.amount:
                raise RefundExceedsCharge(field="amount")
            refund = SandboxRefund.objects.create(
                idempotency_key=idempotency_key,
                charge=charge,
                amount=amount,
                reference=reference,
                status=SandboxStatus.SUCCEEDED,
            )
            event_build(type="refund.succeeded", obj=refund_as_dict(refund), target_url=webhook_url)
    except IntegrityError:
        existing = SandboxRefund.objects.get(idempotency_key=idempotency_key)
        _same_request(existing, charge_id=charge_id, amount=amount)
        return existing, False
    return refund, True


def payout_create(
    *, idempotency_key: str, amount: Money, token: str, reference: str = "", webhook_url: str = ""
) -> tuple[SandboxPayout, bool]:
    """Pay money out to a card token once per idempotency key; returns (payout, created)."""
    existing = SandboxPayout.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        _same_request(existing, amount=amount, token=token, reference=reference)
        return existing, False
    script = token_script(token)
    _script_fail_before(script=script, operation="payout", idempotency_key=idempotency_key)
    status = SandboxStatus.FAILED if script.failure_code else SandboxStatus.SUCCEEDED
    try:
        with transaction.atomic():
            payout = SandboxPayout.objects.create(
                idempotency_key=idempotency_key,
                amount=amount,
                token=token,
                reference=reference,
                status=status,
                failure_code=script.failure_code,
            )
            event_build(type=f"payout.{status}", obj=payout_as_dict(payout), target_url=webhook_url)
    except IntegrityError:
        existing = SandboxPayout.objects.get(idempotency_key=idempotency_key)
        _same_request(existing, amount=amount, token=token, reference=reference)
        return existing, False
    return payout, True


def event_build(*, type: str, obj: dict, target_url: str = "") -> SandboxEvent:
    """Record a webhook event for `obj`; it is sent after commit when webhooks are enabled."""
    new_id = event_id()
    body = json.dumps(
        {"id": new_id, "type": type, "created": int(time.time()), "data": obj},
        separators=(",", ":"),
        sort_keys=True,
    )
    target = target_url or settings.PSP_SANDBOX_WEBHOOK_URL
    with transaction.atomic():
        event = SandboxEvent.objects.create(
            id=new_id, type=type, object_id=obj["id"], body=body, target_url=target
        )
        if settings.PSP_SANDBOX_WEBHOOKS_ENABLED and target:
            transaction.on_commit(lambda: event_send_in_background(event_id=new_id))
    return event


def event_signed_request(event: SandboxEvent, *, timestamp: int | None = None) -> tuple[bytes, dict]:
    """The raw body and headers (with PSP-Signature) of one delivery of `event`."""
    body = event.body.encode()
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(body, settings.PAYMENT_WEBHOOK_SECRET, timestamp),
        "User-Agent": "psp-sandbox/1",
    }
    return body, headers


def event_attempt_record(*, event_id: str, attempt: dict, delivered: bool) -> SandboxEvent | None:
    """Append one delivery attempt to the event. Takes the event row lock."""
    with transaction.atomic():
        event = SandboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return None
        event.attempts = [*event.attempts, attempt]
        if delivered and event.delivered_at is None:
            event.delivered_at = timezone.now()
        event.save(update_fields=["attempts", "delivered_at"])
    return event


def event_deliver(*, event_id: str, max_attempts: int | None = None) -> SandboxEvent | None:
    """POST the signed event to its target until a 2xx, retrying a few times; records each attempt."""
    event = SandboxEvent.objects.filter(pk=event_id).first()
    if event is None:  # gone (e.g. a test database flushed under a late thread): nothing to send
        return None
    delays = WEBHOOK_RETRY_DELAYS
    attempts = len(delays) + 1 if max_attempts is None else max_attempts
    for number in range(attempts):
        body, headers = event_signed_request(event)
        started = time.monotonic()
        status_code, error = None, ""
        try:
            response = requests.post(event.target_url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
            status_code = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        delivered = status_code is not None and 200 <= status_code < 300
        event = event_attempt_record(
            event_id=event_id,
            attempt={
                "at": timezone.now().isoformat(),
                "status_code": status_code,
                "error": error,
                "latency_ms": int((time.monotonic() - started) * 1000),
            },
            delivered=delivered,
        )
        if event is None or delivered:
            break
        if number < attempts - 1:
            time.sleep(delays[min(number, len(delays) - 1)])
    return event


def event_send_in_background(*, event_id: str, first_delay: float = WEBHOOK_FIRST_DELAY) -> threading.Thread:
    """Deliver the event from a daemon thread, so the API answer does not wait for it."""

    def run():
        try:
            time.sleep(first_delay)
            event_deliver(event_id=event_id)
        except Exception:  # a lost webhook must never crash anything; the attempts show it
            logger.exception("psp sandbox: delivering webhook %s failed", event_id)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=f"psp-webhook-{event_id}", daemon=True)
    thread.start()
    return thread


def outage_start(*, seconds: float) -> float:
    """Switch the whole sandbox off for `seconds` (tests, demos): every call answers 503 until then.

    The switch is in the cache (Redis when configured), so every process
    serving the sandbox sees it. Returns the wall-clock time it ends.
    """
    until = time.time() + seconds
    cache.set(OUTAGE_KEY, until, timeout=max(1, int(seconds) + 1))
    logger.warning("psp sandbox outage for %s s", seconds)
    return until


def outage_end() -> None:
    """Switch the sandbox back on."""
    cache.delete(OUTAGE_KEY)


def outage_remaining() -> float:
    """Seconds the outage still lasts (0: the sandbox answers)."""
    until = cache.get(OUTAGE_KEY)
    return max(0.0, float(until) - time.time()) if until is not None else 0.0
