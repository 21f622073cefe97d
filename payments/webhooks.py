"""Provider webhooks: verify the signature and its age, then apply the event once.

`PSP-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(PAYMENT_WEBHOOK_SECRET, "<t>.<raw body>")>`;
a timestamp more than five minutes away from now is refused (replay protection).
Events are deduplicated by id and applied through the same settle services as
a synchronous answer (payments.services.webhooks.webhook_event_apply).
"""

import json

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.exceptions import WebhookSignatureInvalid
from payments.services.webhooks import webhook_event_apply
from shop.core.exceptions import CoreErrorCode
from shop.core.signing import hmac_signature_header, hmac_signature_valid

SIGNATURE_HEADER = "PSP-Signature"
TOLERANCE_SECONDS = 300


def signature_verify(*, payload: bytes, header: str, secret: str, now: int | None = None) -> None:
    """Raise WebhookSignatureInvalid unless `header` signs `payload` within the tolerance (and a secret is set)."""
    if not hmac_signature_valid(
        payload=payload, header=header, secret=secret, tolerance_seconds=TOLERANCE_SECONDS, now=now
    ):
        raise WebhookSignatureInvalid()


def signature_header(*, payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header a sender would put on `payload` (used by tests and tools)."""
    return hmac_signature_header(payload=payload, secret=secret, timestamp=timestamp)


@csrf_exempt
@require_POST
def psp_webhook(request):
    """POST /payments/webhooks/psp/: 200 once applied (or a duplicate), 400 when unsigned or malformed."""
    try:
        signature_verify(
            payload=request.body,
            header=request.headers.get(SIGNATURE_HEADER, ""),
            secret=settings.PAYMENT_WEBHOOK_SECRET,
        )
    except WebhookSignatureInvalid as exc:
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    try:
        event = json.loads(request.body)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not event.get("id") or not isinstance(event.get("data", {}), dict):
        return JsonResponse({"code": CoreErrorCode.INVALID, "detail": _("Malformed event.")}, status=400)
    result = webhook_event_apply(event=event)
    return JsonResponse({"received": True, "result": result})
