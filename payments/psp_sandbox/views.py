"""The sandbox provider's HTTP API (plain Django views, JSON in and out).

Errors are `{"error": {"code", "message"}}` like a Stripe-style provider; see
docs/interfaces.md, "Payment provider (HTTP) and gateway client".
"""

import hmac
import json
import time
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from djmoney.money import Money
from moneyed import CurrencyDoesNotExist, get_currency

from shop.core.money import minor_unit_quantum

from . import selectors, services
from .exceptions import (
    AuthenticationFailed,
    IdempotencyKeyRequired,
    SandboxError,
    SandboxErrorCode,
    ServiceUnavailable,
)


def _error(exc: SandboxError) -> JsonResponse:
    body = {"error": {"code": exc.code, "message": str(exc.message)}}
    if exc.field:
        body["error"]["param"] = exc.field
    return JsonResponse(body, status=exc.status_code)


def provider_view(methods, *, during_outage: bool = False):
    """Check the Bearer key and the method, and turn SandboxErrors into the provider's error body.

    While the outage switch is on, every view but the switch itself answers 503 before anything else.
    """

    def decorator(view):
        @csrf_exempt
        @require_http_methods(methods)
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if not during_outage and services.outage_remaining() > 0:
                    raise ServiceUnavailable()
                scheme, _, key = request.headers.get("Authorization", "").partition(" ")
                # The key the provider expects; PSP_SANDBOX_API_KEY lets a test give the
                # shop's client (PSP_API_KEY) a wrong one while both run in one process.
                expected = settings.PSP_SANDBOX_API_KEY or settings.PSP_API_KEY
                if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), expected.encode()):
                    raise AuthenticationFailed()
                return view(request, *args, **kwargs)
            except SandboxError as exc:
                return _error(exc)

        return wrapper

    return decorator


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise SandboxError(code=SandboxErrorCode.INVALID_JSON)
    if not isinstance(data, dict):
        raise SandboxError(code=SandboxErrorCode.INVALID_JSON)
    return data


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        raise IdempotencyKeyRequired()
    return key


def _text(data: dict, name: str, *, max_length: int = 255, required: bool = False) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise SandboxError(field=name, code=SandboxErrorCode(f"invalid_{name}"))
    return value


def _money(data: dict) -> Money:
    """A positive decimal string amount with no more places than the currency's minor unit."""
    currency = data.get("currency")
    try:
        if not isinstance(currency, str) or currency != currency.upper():
            raise CurrencyDoesNotExist(currency)
        get_currency(currency)
    except CurrencyDoesNotExist:
        raise SandboxError(field="currency", code=SandboxErrorCode.INVALID_CURRENCY)
    raw = data.get("amount")
    if not isinstance(raw, str):
        raise SandboxError(field="amount", code=SandboxErrorCode.INVALID_AMOUNT)
    try:
        amount = Decimal(raw.strip())
    except InvalidOperation:
        raise SandboxError(field="amount", code=SandboxErrorCode.INVALID_AMOUNT)
    quantum = minor_unit_quantum(currency)
    if not amount.is_finite() or amount <= 0 or amount.adjusted() >= 14 or amount != amount.quantize(quantum):
        raise SandboxError(field="amount", code=SandboxErrorCode.INVALID_AMOUNT)
    return Money(amount.quantize(quantum), currency)


def _webhook_url(request) -> str:
    return (
        settings.PSP_SANDBOX_WEBHOOK_URL or f"{request.scheme}://{request.get_host()}/payments/webhooks/psp/"
    )


def _answer(obj_dict: dict, *, key: str, failure_code: str, created: bool, delay: float) -> JsonResponse:
    if created and delay:
        time.sleep(delay)  # after the commit: tok_timeout has charged, only the answer is late
    if failure_code:
        message = {
            "card_declined": "The card was declined.",
            "insufficient_funds": "The card has insufficient funds.",
        }.get(failure_code, "Declined.")
        response = JsonResponse(
            {"error": {"code": failure_code, "message": message}, key: obj_dict}, status=402
        )
    else:
        response = JsonResponse(obj_dict, status=201)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@provider_view(["GET", "POST"])
def charges(request):
    if request.method == "GET":
        key = request.GET.get("idempotency_key", "")
        if not key:
            raise SandboxError(field="idempotency_key", code=SandboxErrorCode.IDEMPOTENCY_KEY_REQUIRED)
        return JsonResponse(selectors.charge_as_dict(selectors.charge_get_by_key(idempotency_key=key)))
    key = _idempotency_key(request)
    data = _body(request)
    amount = _money(data)
    token = _text(data, "token", max_length=64, required=True)
    script = services.token_script(token)
    charge, created = services.charge_create(
        idempotency_key=key,
        amount=amount,
        token=token,
        reference=_text(data, "reference"),
        description=_text(data, "description", max_length=500),
        webhook_url=_webhook_url(request),
    )
    return _answer(
        selectors.charge_as_dict(charge),
        key="charge",
        failure_code=charge.failure_code,
        created=created,
        delay=services.response_delay(script),
    )


@provider_view(["GET"])
def charge_detail(request, charge_id):
    return JsonResponse(selectors.charge_as_dict(selectors.charge_get(charge_id=charge_id)))


@provider_view(["GET", "POST"])
def refunds(request):
    if request.method == "GET":
        key = request.GET.get("idempotency_key", "")
        if not key:
            raise SandboxError(field="idempotency_key", code=SandboxErrorCode.IDEMPOTENCY_KEY_REQUIRED)
        return JsonResponse(selectors.refund_as_dict(selectors.refund_get_by_key(idempotency_key=key)))
    key = _idempotency_key(request)
    data = _body(request)
    refund, created = services.refund_create(
        idempotency_key=key,
        charge_id=_text(data, "charge", max_length=40, required=True),
        amount=_money(data),
        reference=_text(data, "reference"),
        webhook_url=_webhook_url(request),
    )
    return _answer(selectors.refund_as_dict(refund), key="refund", failure_code="", created=created, delay=0)


@provider_view(["GET", "POST"])
def payouts(request):
    if request.method == "GET":
        key = request.GET.get("idempotency_key", "")
        if not key:
            raise SandboxError(field="idempotency_key", code=SandboxErrorCode.IDEMPOTENCY_KEY_REQUIRED)
        return JsonResponse(selectors.payout_as_dict(selectors.payout_get_by_key(idempotency_key=key)))
    key = _idempotency_key(request)
    data = _body(request)
    amount = _money(data)
    token = _text(data, "token", max_length=64, required=True)
    script = services.token_script(token)
    payout, created = services.payout_create(
        idempotency_key=key,
        amount=amount,
        token=token,
        reference=_text(data, "reference"),
        webhook_url=_webhook_url(request),
    )
    return _answer(
        selectors.payout_as_dict(payout),
        key="payout",
        failure_code=payout.failure_code,
        created=created,
        delay=services.response_delay(script),
    )


@provider_view(["GET"])
def settlements(request):
    """The day's report: whole without `type`; with `type` one page of that list (`limit`, `starting_after`)."""
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        raise SandboxError(field="date", code=SandboxErrorCode.INVALID_DATE)
    if "type" not in request.GET:
        return JsonResponse(selectors.settlement_report(day=day))
    try:
        limit = int(request.GET.get("limit", "100"))
    except ValueError:
        raise SandboxError(field="limit", code=SandboxErrorCode.INVALID_LIMIT)
    return JsonResponse(
        selectors.settlement_page(
            day=day, type=request.GET["type"], limit=limit, cursor=request.GET.get("starting_after", "")
        )
    )


@provider_view(["GET"])
def event_detail(request, event_id):
    return JsonResponse(selectors.event_as_dict(selectors.event_get(event_id=event_id)))


@provider_view(["POST"])
def event_resend(request, event_id):
    event = selectors.event_get(event_id=event_id)
    if not event.target_url:
        raise SandboxError(code=SandboxErrorCode.NO_WEBHOOK_URL)
    services.event_send_in_background(event_id=event.id, first_delay=0)
    return JsonResponse({**selectors.event_as_dict(event), "resending": True}, status=202)


@provider_view(["GET", "POST", "DELETE"], during_outage=True)
def outage(request):
    """The outage switch: POST `{"seconds": N}` takes the whole sandbox down for N seconds, DELETE ends it."""
    if request.method == "POST":
        seconds = _body(request).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= services.OUTAGE_MAX_SECONDS:
            raise SandboxError(field="seconds", code=SandboxErrorCode.INVALID_SECONDS)
        services.outage_start(seconds=seconds)
    elif request.method == "DELETE":
        services.outage_end()
    return JsonResponse({"outage": services.outage_remaining() > 0, "remaining_seconds": services.outage_remaining()})
