"""The provider webhook receiver: signature, timestamp tolerance, deduplication."""

import json
import time
from decimal import Decimal

import pytest
from django.test import Client
from djmoney.money import Money

from payments.models import LedgerTransaction, Payment, WebhookEvent
from payments.services import charges
from payments.webhooks import signature_header
from tests.payments.factories import VerifiedUserFactory

pytestmark = pytest.mark.django_db

URL = "/payments/webhooks/psp/"


def post(body: bytes, header: str | None):
    extra = {"HTTP_PSP_SIGNATURE": header} if header is not None else {}
    return Client().post(URL, data=body, content_type="application/json", **extra)


def event_for(payment, kind="succeeded", event_id="evt_1"):
    return json.dumps(
        {
            "id": event_id,
            "type": f"charge.{kind}",
            "created": int(time.time()),
            "data": {"id": "ch_1", "status": kind, "idempotency_key": payment.provider_key, "failure_code": ""},
        }
    ).encode()


@pytest.fixture
def processing_payment():
    user = VerifiedUserFactory()
    payment = charges.payment_create(
        user=user, purpose="order", reference="ORD-7", amount=Money(Decimal("9.00"), "USD"), method="card",
        card_token="tok_ok",
    )
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.UNKNOWN, attempt_count=1)
    return payment


def test_a_signed_event_settles_the_payment(processing_payment, settings):
    body = event_for(processing_payment)
    response = post(body, signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET))
    assert response.status_code == 200
    assert response.json()["result"] == "succeeded"
    processing_payment.refresh_from_db()
    assert processing_payment.status == Payment.Status.SUCCEEDED
    assert processing_payment.provider_charge_id == "ch_1"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=abc,v1=00",
        "v1=deadbeef",
        "wrong-secret",
        "old",
        "future",
        "tampered",
    ],
)
def test_unsigned_badly_signed_or_stale_events_are_refused(processing_payment, settings, header):
    body = event_for(processing_payment)
    secret = settings.PAYMENT_WEBHOOK_SECRET
    if header == "wrong-secret":
        header = signature_header(payload=body, secret="whsec_other")
    elif header == "old":
        header = signature_header(payload=body, secret=secret, timestamp=int(time.time()) - 301)
    elif header == "future":
        # Well past the tolerance: a slow request must not bring it back inside.
        header = signature_header(payload=body, secret=secret, timestamp=int(time.time()) + 330)
    elif header == "tampered":
        header = signature_header(payload=body.replace(b"ORD", b"XXX") + b" ", secret=secret)
    response = post(body, header)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    processing_payment.refresh_from_db()
    assert processing_payment.status == Payment.Status.UNKNOWN


def test_with_no_secret_configured_every_event_is_refused(processing_payment, settings):
    # An empty secret is a key anyone can sign with: the receiver refuses everything instead.
    settings.PAYMENT_WEBHOOK_SECRET = ""
    body = event_for(processing_payment)
    response = post(body, signature_header(payload=body, secret=""))
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_an_event_within_the_tolerance_is_accepted(processing_payment, settings):
    body = event_for(processing_payment)
    header = signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET, timestamp=int(time.time()) - 290)
    assert post(body, header).status_code == 200


def test_a_redelivered_event_is_applied_once(processing_payment, settings):
    body = event_for(processing_payment, kind="succeeded")
    header = signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET)
    assert post(body, header).json()["result"] == "succeeded"
    assert post(body, header).json()["result"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    processing_payment.refresh_from_db()
    assert processing_payment.status == Payment.Status.SUCCEEDED
    assert LedgerTransaction.objects.filter(reference=processing_payment.ledger_reference).count() == 1


def test_a_failure_event_the_provider_cannot_confirm_settles_nothing(processing_payment, settings):
    settings.PAYMENT_GATEWAY_URL = "http://127.0.0.1:9/psp-sandbox/"  # nothing listens: no answer
    body = event_for(processing_payment, kind="failed")
    header = signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET)
    assert post(body, header).json()["result"] == "unconfirmed"
    assert post(body, header).json()["result"] == "duplicate"
    processing_payment.refresh_from_db()
    assert processing_payment.status == Payment.Status.UNKNOWN  # still in the retry job's hands
    assert processing_payment.attempts.filter(kind="lookup").count() == 1


def test_an_event_for_an_unknown_payment_is_acknowledged_and_ignored(settings):
    body = json.dumps({"id": "evt_x", "type": "charge.succeeded", "data": {"idempotency_key": "nope"}}).encode()
    response = post(body, signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET))
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"


def test_malformed_json_is_400(settings):
    body = b"not json"
    response = post(body, signature_header(payload=body, secret=settings.PAYMENT_WEBHOOK_SECRET))
    assert response.status_code == 400


def test_get_is_not_allowed():
    assert Client().get(URL).status_code == 405
