"""Helpers for tests that need shipped orders: a carrier, and shipping all that is left of an order."""

from shop.orders.selectors import order_unshipped_by_warehouse
from shop.orders.services.shipments import order_ship_everything
from tests.shipping.factories import CarrierFactory

TRACKING_TEMPLATE = "https://track.example.com/parcels/{tracking_number}"


def carrier_new(code: str = "dhl", **kwargs):
    """An active carrier whose tracking page is https://track.example.com/parcels/<number>."""
    return CarrierFactory(code=code, tracking_url_template=TRACKING_TEMPLATE, **kwargs)


def ship_all(order, *, carrier=None, actor=None, prefix: str = "TN"):
    """Ship everything left of `order`, one parcel per warehouse, numbered <prefix><order>-<warehouse>."""
    carrier = carrier or carrier_new()
    numbers = [f"{prefix}{order.pk}-{wid}" for wid in sorted(order_unshipped_by_warehouse(order.pk))]
    return order_ship_everything(order_id=order.pk, carrier=carrier, tracking_numbers=numbers, actor=actor)
