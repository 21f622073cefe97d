import io

import pytest

from shop.orders.models import Order, Shipment


@pytest.mark.django_db
def test_demo_data_makes_paid_orders_ships_two_delivers_one_and_is_idempotent():
    from accounts import demo as accounts_demo
    from catalog import demo as catalog_demo
    from payments import demo as payments_demo
    from shop.orders import demo
    from shop.shipping import demo as shipping_demo

    out = io.StringIO()
    for module in (accounts_demo, catalog_demo, payments_demo, shipping_demo, demo):
        module.load(stdout=out)
    statuses = sorted(Order.objects.values_list("status", flat=True))
    assert statuses == ["delivered", "paid", "shipped"], out.getvalue()
    delivered = Shipment.objects.get(order__status="delivered")
    assert (delivered.carrier.code, delivered.status) == ("dhl", Shipment.Status.DELIVERED)
    assert delivered.tracking_url.startswith("https://") and delivered.tracking_number in delivered.tracking_url
    assert Shipment.objects.get(order__status="shipped").carrier.code == "ups"
    demo.load(stdout=out)
    assert Order.objects.count() == 3 and Shipment.objects.count() == 2
