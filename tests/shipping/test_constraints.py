"""The database itself refuses what admin validation refuses, and replays racing each other record once."""

import json
import threading

import pytest
from django.db import IntegrityError, close_old_connections, transaction
from django.test import Client

from shop.core.signing import hmac_signature_header
from shop.shipping.handlers import carrier_event_handler_register, carrier_event_handler_unregister
from shop.shipping.models import Carrier, CarrierEvent, ShippingMethod, ShippingMethodPrice, WeightBand
from tests.shipping.factories import CarrierFactory, MethodFactory, band_add, price_add


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write",
    [
        lambda m: band_add(m, "EUR", 1000, "2.00"),  # the same bound twice
        lambda m: band_add(m, "EUR", 0, "2.00"),
        lambda m: band_add(m, "USD", 1000, "-0.01"),
        lambda m: price_add(m, "EUR", price="1.00"),  # a second price row in one currency
        lambda m: price_add(m, "USD", price="-1.00"),
        lambda m: price_add(m, "USD", price="1.00", free_above="0"),
        lambda m: ShippingMethod.objects.filter(pk=m.pk).update(min_delivery_days=4, max_delivery_days=3),
        lambda m: Carrier.objects.filter(pk=m.carrier_id).update(tracking_url_template="https://t.example/"),
    ],
)
def test_the_database_refuses_invalid_rows(write):
    method = MethodFactory(kind=ShippingMethod.Kind.BY_WEIGHT)
    band_add(method, "EUR", 1000, "1.00")
    price_add(method, "EUR", free_above="10.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        write(method)
    assert WeightBand.objects.count() == 1 and ShippingMethodPrice.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_record_and_dispatch_it_once(settings):
    settings.CARRIER_WEBHOOK_SECRETS = {"dhl": "whsec_race"}
    CarrierFactory(code="dhl")
    dispatched = []
    carrier_event_handler_register(dispatched.append)
    payload = json.dumps({"id": "evt_race", "status": "shipped", "tracking_number": "JD1"}).encode()
    barrier = threading.Barrier(4)
    results = []

    def deliver():
        try:
            barrier.wait()
            header = hmac_signature_header(payload=payload, secret="whsec_race")
            response = Client().post(
                "/shipping/webhooks/dhl/",
                data=payload,
                content_type="application/json",
                HTTP_CARRIER_SIGNATURE=header,
            )
            results.append((response.status_code, response.json()["result"]))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        carrier_event_handler_unregister(dispatched.append)
    assert sorted(results) == [(200, "duplicate")] * 3 + [(200, "recorded")]
    assert CarrierEvent.objects.count() == 1 and len(dispatched) == 1
