"""API idempotency: the `Idempotency-Key` header on every money-moving POST.

Per (user, key) the first request's fingerprint and final response are
stored. The same key with the same body answers the stored response and does
nothing again; a different body is 409 `idempotency_key_reused`; a duplicate
arriving while the first is still running is 409 `request_in_progress`.

A running request holds the key on a lease (`IDEMPOTENCY_LEASE_SECONDS`,
default 60, far longer than any request may take). The claim is committed
before the view runs, so a concurrent duplicate sees it (on PostgreSQL the
second insert waits for the first and then conflicts). As soon as the
request creates its object (a payment, a withdrawal, an order), the service
records that object on the key in the same database transaction
(`idempotency_key_attach`). So when a worker crashes or is killed, whatever
the point:

- nothing was created: the key is forgotten (after an exception) or, for a
  killed worker, taken over by the first replay after the lease; the replay
  runs the request afresh;
- the object was created (and its provider call possibly made): the key is
  kept, and a replay (at once after an exception, after the lease for a
  killed worker) answers from the object's current state through the view's
  `idempotent_replay`, never creating a second one.

A claim that lost its lease (another request took it over) can no longer
record an object: `idempotency_key_attach` raises RequestInProgress, which
rolls back the object's creation.
"""

import hashlib
import json
import uuid
from contextlib import nullcontext
from datetime import timedelta
from functools import wraps

import structlog
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.response import Response

from payments.exceptions import (
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IdempotencyKeyTooLong,
    RequestInProgress,
)
from payments.models import IdempotencyKey
from shop.core.exceptions import ShopError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# The header in the OpenAPI schema: longer keys are 400 idempotency_key_too_long.
KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}
REPLAY_HOOK = "idempotent_replay"


def _lease() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def request_fingerprint(*, scope: str, method: str, path: str, body) -> str:
    """A stable hash of what the request asks for (key order in the JSON body does not matter)."""
    canonical = json.dumps(
        {"scope": scope, "method": method, "path": path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_claim(*, user, key: str, scope: str, fingerprint: str) -> IdempotencyKey:
    """Claim (user, key) for this request and return the record.

    A `done` record is the stored answer to replay. An `in_progress` record is
    now held by this request (new, or taken over after its lease ran out); if
    it names a created object (`resource_type`), answer from that object
    instead of running the request again. Raises IdempotencyKeyReused for
    another body under the same key, RequestInProgress while another request
    holds the lease.
    """
    for _attempt in range(3):
        now = timezone.now()
        token = uuid.uuid4().hex
        try:
            # One INSERT commits on its own; a savepoint only where a refusal must not
            # poison the caller's transaction.
            with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
                return IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    scope=scope,
                    fingerprint=fingerprint,
                    lease_token=token,
                    locked_until=now + _lease(),
                )
        except IntegrityError:
            pass
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # released between our insert and this read: try again
        if record.fingerprint != fingerprint or record.scope != scope:
            raise IdempotencyKeyReused()
        if record.status == IdempotencyKey.Status.DONE:
            return record
        taken = (
            IdempotencyKey.objects.filter(
                pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, lease_token=record.lease_token
            )
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
            .update(lease_token=token, locked_until=now + _lease())
        )
        if not taken:
            raise RequestInProgress()
        record.refresh_from_db()
        return record
    raise RequestInProgress()


def idempotency_key_attach(*, record: IdempotencyKey | None, obj) -> None:
    """Record on the claimed key the object its request created. No-op without a claim.

    Call inside the transaction that creates `obj`, so both commit together.
    Raises RequestInProgress (rolling the creation back) when the claim was
    taken over by a replay after its lease ran out.
    """
    if record is None:
        return
    resource_type, resource_id = obj._meta.label_lower, str(obj.pk)
    updated = IdempotencyKey.objects.filter(
        pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, lease_token=record.lease_token
    ).update(resource_type=resource_type, resource_id=resource_id)
    if not updated:
        raise RequestInProgress()
    record.resource_type, record.resource_id = resource_type, resource_id


def idempotency_key_resource(*, record: IdempotencyKey):
    """The object recorded on the key (see idempotency_key_attach), or None."""
    if not record.resource_type:
        return None
    model = apps.get_model(record.resource_type)
    return model._default_manager.get(pk=record.resource_id)


def idempotency_key_complete(*, record: IdempotencyKey, status: int, body) -> None:
    """Store the final response of a key this request holds (a lost claim stores nothing).

    One UPDATE: atomic on its own, no transaction around it.
    """
    IdempotencyKey.objects.filter(
        pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, lease_token=record.lease_token
    ).update(
        status=IdempotencyKey.Status.DONE,
        response_status=status,
        response_body=json.loads(json.dumps(body, cls=DjangoJSONEncoder)),
        completed_at=timezone.now(),
        locked_until=None,
    )


def idempotency_key_abandon(*, record: IdempotencyKey) -> None:
    """Give up a claim after a refusal or a crash.

    If the request created nothing, the key is forgotten, so the client may
    fix the request and send it again. If it created an object, the key is
    kept and its lease ends now: the next replay answers from that object.
    """
    with transaction.atomic():
        held = IdempotencyKey.objects.filter(
            pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, lease_token=record.lease_token
        )
        deleted, _detail = held.filter(resource_type="").delete()
        if not deleted:
            held.update(locked_until=timezone.now())


def _storable(status_code: int) -> bool:
    """Answers after which money may have moved: 2xx, and 402 (a declined payment is recorded)."""
    return 200 <= status_code < 300 or status_code == 402


def idempotent(scope: str):
    """Decorator for a DRF view's `post(self, request, *args, **kwargs)`; the contract is:

    - Requires the `Idempotency-Key` header (400 `idempotency_key_required`
      without it, 400 `idempotency_key_too_long` over 255 characters). Call outside any transaction
      (ATOMIC_REQUESTS is off).
    - Same key + same body (scope, method, path, JSON body): the stored answer
      again, with `Idempotent-Replayed: true`; different body: 409
      `idempotency_key_reused`; while the first request runs (within its
      lease): 409 `request_in_progress`.
    - The view finds the claim in `request.idempotency_claim` and passes it to
      the service that creates its object, which calls
      `idempotency_key_attach(record=claim, obj=...)` in the transaction that
      creates the object.
    - A view whose request creates an object defines
      `idempotent_replay(self, request, obj) -> Response`: the answer for that
      object in its current state, with the status rules of a first answer
      (e.g. 201 succeeded, 202 processing/unknown, 402 declined). Build the
      first answer with the same code so both agree. The decorator calls it
      when a replay finds an object but no stored answer (the first request
      crashed, or its worker died and the lease ran out).
    - Answers after which money may have moved (2xx, and 402) are stored and
      replayed. Other refusals (4xx ShopErrors, validation errors) and
      crashes release the key when nothing was created; when an object was
      created the key stays, for the next replay to answer from the object.
    """

    def decorator(view_method):
        @wraps(view_method)
        def wrapper(self, request, *args, **kwargs):
            raw = request.headers.get(HEADER) or ""
            if len(raw) > MAX_KEY_LENGTH:
                raise IdempotencyKeyTooLong(field=HEADER)
            key = raw.strip()
            if not key:
                raise IdempotencyKeyRequired(field=HEADER)
            structlog.contextvars.bind_contextvars(api_idempotency_key=key)  # on every log line of the request
            fingerprint = request_fingerprint(
                scope=scope, method=request.method, path=request.path, body=request.data
            )
            record = idempotency_key_claim(user=request.user, key=key, scope=scope, fingerprint=fingerprint)
            if record.status == IdempotencyKey.Status.DONE:
                response = Response(record.response_body, status=record.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            request.idempotency_claim = record
            try:
                response = _claimed_answer(view_method, self, request, *args, **kwargs)
            except BaseException:
                idempotency_key_abandon(record=record)
                raise
            if not _storable(response.status_code):
                # Refused (invalid input, not found, closed...): nothing moved, unless an
                # object was recorded, in which case the next replay answers from it.
                idempotency_key_abandon(record=record)
                return response
            idempotency_key_complete(record=record, status=response.status_code, body=response.data)
            return response

        return wrapper

    return decorator


def _claimed_answer(view_method, view, request, *args, **kwargs) -> Response:
    """Inside `idempotent`, for a claimed key: a replay from the object the key recorded, or the view's answer.

    A ShopError becomes its error answer; anything else propagates (the key is then released).
    """
    try:
        obj = idempotency_key_resource(record=request.idempotency_claim)
        if obj is None:
            return view_method(view, request, *args, **kwargs)
        replay = getattr(view, REPLAY_HOOK, None)
        if replay is None:
            raise ImproperlyConfigured(f"{type(view).__name__} records objects but has no {REPLAY_HOOK}()")
        response = replay(request, obj)
        response["Idempotent-Replayed"] = "true"
        return response
    except ShopError as exc:
        return Response(exc.as_dict(), status=exc.status_code, headers=exc.response_headers())


def idempotency_key_prune(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete API idempotency keys older than `older_than` (at least 24 hours); returns how many."""
    cutoff = timezone.now() - max(older_than, timedelta(hours=24))
    with transaction.atomic():
        deleted, _detail = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
