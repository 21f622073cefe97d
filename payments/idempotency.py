"""API idempotency: the `Idempotency-Key` header on every money-moving POST.

Per (user, key) the first request's fingerprint and final response are
stored. The same key with the same body answers the stored response and does
nothing again; a different body is 409 `idempotency_key_reused`; a duplicate
arriving while the first is still running is 409 `request_in_progress`.
The claim is committed before the view runs, so a concurrent duplicate sees
it (on PostgreSQL the second insert waits for the first and then conflicts).
"""

import hashlib
import json
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from payments.exceptions import IdempotencyKeyRequired, IdempotencyKeyReused, RequestInProgress
from payments.models import IdempotencyKey
from shop.exceptions import ShopError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def request_fingerprint(*, scope: str, method: str, path: str, body) -> str:
    """A stable hash of what the request asks for (key order in the JSON body does not matter)."""
    canonical = json.dumps(
        {"scope": scope, "method": method, "path": path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_claim(*, user, key: str, scope: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """Claim (user, key) for this request; returns (record, claimed). Raises on reuse or a running duplicate."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, scope=scope, fingerprint=fingerprint), True
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.get(user=user, key=key)
    if record.fingerprint != fingerprint or record.scope != scope:
        raise IdempotencyKeyReused()
    if record.status != IdempotencyKey.Status.DONE:
        raise RequestInProgress()
    return record, False


def idempotency_key_complete(*, record: IdempotencyKey, status: int, body) -> None:
    """Store the final response of a claimed key."""
    with transaction.atomic():
        record.status = IdempotencyKey.Status.DONE
        record.response_status = status
        record.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
        record.completed_at = timezone.now()
        record.save(update_fields=["status", "response_status", "response_body", "completed_at"])


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request ended in an unexpected error, so the client may try again."""
    with transaction.atomic():
        IdempotencyKey.objects.filter(pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS).delete()


def idempotent(scope: str):
    """Decorator for a DRF view's `post(self, request, *args, **kwargs)`; see the module docstring.

    Call outside any transaction (ATOMIC_REQUESTS is off). Answers after
    which money may have moved (2xx, and 402 for a declined card, whose failed
    payment is recorded) are stored and replayed; other refusals and crashes
    release the key.
    """

    def decorator(view_method):
        @wraps(view_method)
        def wrapper(self, request, *args, **kwargs):
            key = (request.headers.get(HEADER) or "").strip()
            if not key:
                raise IdempotencyKeyRequired(field=HEADER)
            if len(key) > MAX_KEY_LENGTH:
                raise IdempotencyKeyRequired(field=HEADER)
            fingerprint = request_fingerprint(
                scope=scope, method=request.method, path=request.path, body=request.data
            )
            record, claimed = idempotency_key_claim(user=request.user, key=key, scope=scope, fingerprint=fingerprint)
            if not claimed:
                response = Response(record.response_body, status=record.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            try:
                response = view_method(self, request, *args, **kwargs)
            except ShopError as exc:
                response = Response(exc.as_dict(), status=exc.status_code)
            except BaseException:
                idempotency_key_release(record=record)
                raise
            if not (200 <= response.status_code < 300 or response.status_code == 402):
                # Refused before anything moved (invalid input, not found, closed...):
                # forget the key so the client may fix the request and resend it.
                idempotency_key_release(record=record)
                return response
            idempotency_key_complete(record=record, status=response.status_code, body=response.data)
            return response

        return wrapper

    return decorator
