"""The carrier webhook: signature, timestamp tolerance, unknown carriers, replays, handler dispatch."""

import json
import time

import pytest
from django.test import Client

from shop.core.signing import hmac_signature_header
from shop.shipping.handlers import carrier_event_handler_register, carrier_event_handler_unregister
from shop.shipping.models import CarrierEvent
from tests.shipping.factories import CarrierFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec_dhl_test"


@pytest.fixture
def dhl(settings):
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": SECRET}
    return CarrierFactory(code="dhl", name="DHL")


@pytest.fixture
def received():
    """Registers a handler that collects every dispatched event."""
    events = []

    def handler(event):
        events.append((event.carrier.code, event.event_id, event.tracking_number, event.status))

    carrier_event_handler_register(handler)
    yield events
    carrier_event_handler_unregister(handler)


def body(event_id="evt_1", status="delivered", tracking_number="JD014600006281"):
    return json.dumps({"id": event_id, "status": status, "tracking_number": tracking_number}).encode()


def post(payload: bytes, header: str | None, carrier="dhl"):
    extra = {"HTTP_CARRIER_SIGNATURE": header} if header is not None else {}
    return Client().post(
        f"/shipping/webhooks/{carrier}/", data=payload, content_type="application/json", **extra
    )


def test_a_signed_event_is_recorded_and_dispatched_once(dhl, received):
    payload = body()
    response = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    assert response.status_code == 200
    assert response.json() == {"received": True, "result": "recorded"}
    event = CarrierEvent.objects.get()
    assert (event.carrier, event.event_id, event.tracking_number, event.status) == (
        dhl,
        "evt_1",
        "JD014600006281",
        CarrierEvent.Status.DELIVERED,
    )
    assert received == [("dhl", "evt_1", "JD014600006281", "delivered")]


def test_a_replayed_event_answers_200_and_is_not_dispatched_again(dhl, received):
    payload = body()
    first = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    again = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["result"] == "duplicate"
    assert CarrierEvent.objects.count() == 1
    assert len(received) == 1


def test_the_same_event_id_from_another_carrier_is_another_event(dhl, received, settings):
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": SECRET, "ups": "whsec_ups"}
    CarrierFactory(code="ups")
    payload = body()
    post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    response = post(payload, hmac_signature_header(payload=payload, secret="whsec_ups"), carrier="ups")
    assert response.json()["result"] == "recorded"
    assert len(received) == 2


@pytest.mark.parametrize(
    "header",
    [None, "", "t=abc,v1=00", "v1=deadbeef", "wrong-secret", "old", "future", "tampered", "other-carrier"],
)
def test_unsigned_badly_signed_or_stale_events_are_refused_and_change_nothing(
    dhl, received, header, settings
):
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": SECRET, "ups": "whsec_ups"}
    payload = body()
    now = int(time.time())
    headers = {
        "wrong-secret": lambda: hmac_signature_header(payload=payload, secret="whsec_other"),
        "other-carrier": lambda: hmac_signature_header(payload=payload, secret="whsec_ups"),
        "old": lambda: hmac_signature_header(payload=payload, secret=SECRET, timestamp=now - 301),
        # Well past the 300 s tolerance: a slow request (a loaded CI machine) must not bring it back inside.
        "future": lambda: hmac_signature_header(payload=payload, secret=SECRET, timestamp=now + 330),
        "tampered": lambda: hmac_signature_header(payload=body(status="shipped"), secret=SECRET),
    }
    header = headers[header]() if header in headers else header
    response = post(payload, header)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not CarrierEvent.objects.exists()
    assert received == []


def test_a_timestamp_just_inside_the_tolerance_is_accepted(dhl):
    payload = body()
    header = hmac_signature_header(payload=payload, secret=SECRET, timestamp=int(time.time()) - 290)
    assert post(payload, header).status_code == 200


@pytest.mark.parametrize("carrier", ["fedex", "inactive", "nosecret"])
def test_unknown_inactive_or_unconfigured_carriers_answer_404(dhl, received, carrier, settings):
    CarrierFactory(code="inactive", is_active=False)
    CarrierFactory(code="nosecret")
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": SECRET, "inactive": "whsec_i"}
    payload = body()
    secret = {"inactive": "whsec_i"}.get(carrier, SECRET)
    response = post(payload, hmac_signature_header(payload=payload, secret=secret), carrier=carrier)
    assert response.status_code == 404
    assert response.json()["code"] == "carrier_not_found"
    assert not CarrierEvent.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        json.dumps({"id": "evt_1", "status": "delivered"}).encode(),
        json.dumps({"id": 5}).encode(),
    ],
)
def test_a_signed_but_malformed_event_is_a_400(dhl, received, payload):
    response = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not CarrierEvent.objects.exists()


def test_a_status_the_shop_does_not_track_is_acknowledged_and_ignored(dhl, received):
    payload = body(status="in_transit")
    response = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert not CarrierEvent.objects.exists() and received == []


def test_a_handler_that_fails_rolls_the_record_back_so_the_redelivery_is_applied(dhl):
    calls = []

    def flaky(event):
        calls.append(event.event_id)
        if len(calls) == 1:
            raise RuntimeError("orders could not apply the event")

    carrier_event_handler_register(flaky)
    try:
        payload = body()
        client = Client(raise_request_exception=False)
        header = hmac_signature_header(payload=payload, secret=SECRET)
        first = client.post(
            "/shipping/webhooks/dhl/",
            data=payload,
            content_type="application/json",
            HTTP_CARRIER_SIGNATURE=header,
        )
        assert first.status_code == 500
        assert not CarrierEvent.objects.exists()
        again = post(payload, hmac_signature_header(payload=payload, secret=SECRET))
        assert again.json()["result"] == "recorded"
        assert calls == ["evt_1", "evt_1"] and CarrierEvent.objects.count() == 1
    finally:
        carrier_event_handler_unregister(flaky)


def test_only_post_is_allowed(dhl):
    assert Client().get("/shipping/webhooks/dhl/").status_code == 405
