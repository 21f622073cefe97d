"""Tracking: the carrier's webhook moves parcels through the same services; the shopper's page and the API show them."""

import json
import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from shop.core.signing import hmac_signature_header
from shop.orders.models import Order, OrderEvent, Shipment
from shop.orders.services.checkout import order_place
from shop.orders.services.shipments import shipment_create
from shop.shipping.models import CarrierEvent
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

SECRET = "whsec_dhl_orders"


@pytest.fixture
def shipped(settings):
    """A paid order of 2 + 1 units whose first line shipped with DHL as JD0001 (the order is partially shipped)."""
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": SECRET}
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price="10.00", on_hand=5), 2), (make_product(price="5.00", on_hand=5), 1))
    order = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD").order
    first, second = order.lines.order_by("id")
    carrier = carrier_new("dhl", name="DHL")
    parcel = shipment_create(order=order, lines={first: 2}, warehouse=first.allocations.get().warehouse,
                             carrier=carrier, tracking_number="JD0001")
    return {"order": order, "user": user, "parcel": parcel, "carrier": carrier, "first": first, "second": second}


def webhook(payload: dict, *, secret: str | None = SECRET, timestamp: int | None = None):
    raw = json.dumps(payload).encode()
    headers = {}
    if secret is not None:
        headers["HTTP_CARRIER_SIGNATURE"] = hmac_signature_header(payload=raw, secret=secret, timestamp=timestamp)
    return Client().post("/shipping/webhooks/dhl/", data=raw, content_type="application/json", **headers)


def _state(shipped):
    order = Order.objects.get(pk=shipped["order"].pk)
    return order.status, Shipment.objects.get(pk=shipped["parcel"].pk).status, OrderEvent.objects.count()


def test_a_signed_delivered_event_delivers_the_parcel_through_the_service(shipped):
    shipment_create(order=shipped["order"], lines={shipped["second"]: 1},
                    warehouse=shipped["second"].allocations.get().warehouse, carrier=shipped["carrier"],
                    tracking_number="JD0002")
    response = webhook({"id": "evt_1", "tracking_number": "JD0001", "status": "delivered"})
    assert response.json()["result"] == "recorded"
    assert _state(shipped)[:2] == ("shipped", "delivered")
    assert OrderEvent.objects.filter(reason="Parcel JD0001 delivered: reported by DHL").count() == 1
    webhook({"id": "evt_2", "tracking_number": "JD0002", "status": "delivered"})
    assert Order.objects.get(pk=shipped["order"].pk).status == Order.Status.DELIVERED


def test_unsigned_badly_signed_stale_or_replayed_events_change_nothing(shipped):
    delivered = {"id": "evt_9", "tracking_number": "JD0001", "status": "delivered"}
    before = _state(shipped)
    assert webhook(delivered, secret=None).status_code == 400
    assert webhook(delivered, secret="whsec_wrong").status_code == 400
    assert webhook(delivered, timestamp=int(time.time()) - 3600).status_code == 400
    assert _state(shipped) == before
    assert not CarrierEvent.objects.exists()

    assert webhook(delivered).json()["result"] == "recorded"
    after = _state(shipped)
    assert after[1] == "delivered"
    # The same event again (a replay, or the carrier's redelivery): a duplicate, nothing applied twice.
    assert webhook(delivered).json()["result"] == "duplicate"
    assert _state(shipped) == after
    assert CarrierEvent.objects.count() == 1


def test_an_unknown_tracking_number_is_recorded_and_changes_nothing(shipped):
    before = _state(shipped)
    response = webhook({"id": "evt_x", "tracking_number": "NOT-OURS", "status": "delivered"})
    assert response.status_code == 200 and response.json()["result"] == "recorded"
    assert CarrierEvent.objects.get().tracking_number == "NOT-OURS"
    assert _state(shipped) == before


def test_a_shipped_event_confirms_the_parcel_and_changes_nothing(shipped):
    before = _state(shipped)
    assert webhook({"id": "evt_s", "tracking_number": "JD0001", "status": "shipped"}).json()["result"] == "recorded"
    assert _state(shipped) == before


def test_the_shoppers_order_page_lists_parcels_with_their_tracking_links(shipped, django_assert_max_num_queries):
    browser = Client()
    browser.force_login(shipped["user"])
    html = browser.get(f"/orders/{shipped['order'].number}/").content.decode()
    assert "JD0001" in html and "DHL" in html
    assert 'href="https://track.example.com/parcels/JD0001"' in html
    assert "Partially shipped" in html or "partially shipped" in html
    # One more parcel adds no queries to the page.
    with django_assert_max_num_queries(40) as one:
        browser.get(f"/orders/{shipped['order'].number}/")
    shipment_create(order=shipped["order"], lines={shipped["second"]: 1},
                    warehouse=shipped["second"].allocations.get().warehouse, carrier=shipped["carrier"],
                    tracking_number="JD0002")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = browser.get(f"/orders/{shipped['order'].number}/")
    assert 'href="https://track.example.com/parcels/JD0002"' in page.content.decode()


def test_the_api_order_lists_its_shipments(shipped):
    api = APIClient()
    api.force_authenticate(shipped["user"])
    body = api.get(f"/api/v1/orders/{shipped['order'].number}/").json()
    assert body["status"] == "partially_shipped"
    assert body["shipments"] == [{
        "carrier": "DHL", "tracking_number": "JD0001", "tracking_url": "https://track.example.com/parcels/JD0001",
        "status": "shipped", "shipped_at": body["shipments"][0]["shipped_at"], "delivered_at": None,
        "lines": [{"sku": shipped["first"].sku, "quantity": 2}],
    }]
    listed = api.get("/api/v1/orders/").json()["results"][0]
    assert listed["shipments"][0]["tracking_number"] == "JD0001"
    # Another shopper sees neither the order nor its parcels.
    stranger = APIClient()
    stranger.force_authenticate(shopper_new())
    assert stranger.get(f"/api/v1/orders/{shipped['order'].number}/").status_code == 404
