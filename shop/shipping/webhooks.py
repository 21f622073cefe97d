"""Carrier webhooks: verify the carrier's signature and its age, then record the event once.

`POST /shipping/webhooks/<carrier code>/` with header
`Carrier-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, where
the secret is `settings.CARRIER_WEBHOOK_SECRETS[<carrier code>]`, and a JSON body
`{"id": "<event id>", "tracking_number": "...", "status": "shipped"|"delivered"}`.
A timestamp more than five minutes from now is refused; an event id seen before
for the carrier answers 200 without being dispatched again.
"""

import json

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.core.exceptions import CoreErrorCode, ShopError
from shop.core.signing import hmac_signature_valid
from shop.shipping.exceptions import CarrierNotFound, CarrierSignatureInvalid
from shop.shipping.selectors import carrier_get_active
from shop.shipping.services import carrier_event_record

SIGNATURE_HEADER = "Carrier-Signature"
TOLERANCE_SECONDS = 300
MAX_ID_LENGTH = 100


def _event_parse(body: bytes) -> dict | None:
    """The event if it is a JSON object with a usable id, tracking number and status; else None."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    fields = [event.get("id"), event.get("tracking_number"), event.get("status")]
    if not all(isinstance(value, str) and value.strip() and len(value) <= MAX_ID_LENGTH for value in fields):
        return None
    return event


def _carrier_verified(request, code: str):
    """The carrier whose configured secret signs this request; raises CarrierNotFound / CarrierSignatureInvalid."""
    carrier = carrier_get_active(code=code)
    secret = settings.CARRIER_WEBHOOK_SECRETS.get(carrier.code, "")
    if not secret:  # a carrier without a secret takes no webhooks at all
        raise CarrierNotFound(_("This carrier has no webhook configured."))
    if not hmac_signature_valid(
        payload=request.body,
        header=request.headers.get(SIGNATURE_HEADER, ""),
        secret=secret,
        tolerance_seconds=TOLERANCE_SECONDS,
    ):
        raise CarrierSignatureInvalid()
    return carrier


@csrf_exempt
@require_POST
def carrier_webhook(request, carrier: str):
    """POST /shipping/webhooks/<carrier>/: 200 recorded (or duplicate/ignored), 404 unknown carrier, 400 unsigned or malformed."""
    try:
        carrier_obj = _carrier_verified(request, carrier)
    except ShopError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    event = _event_parse(request.body)
    if event is None:
        return JsonResponse({"code": CoreErrorCode.INVALID, "detail": _("Malformed event.")}, status=400)
    result = carrier_event_record(
        carrier=carrier_obj,
        event_id=event["id"].strip(),
        tracking_number=event["tracking_number"].strip(),
        status=event["status"].strip(),
        payload=event,
    )
    return JsonResponse({"received": True, "result": result})
