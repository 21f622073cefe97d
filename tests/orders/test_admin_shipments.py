"""The order page's shipment buttons in admin: create a parcel, mark one delivered, each with a reason, audited."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from payments.models import AuditLog
from shop.orders.models import Order, Shipment
from shop.orders.services.checkout import order_place
from tests.catalog.factories import make_warehouse
from tests.orders.factories import UserFactory, cart_fill, make_product, shopper_new
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"


def staff(*perms) -> Client:
    user = UserFactory(is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def order(db):
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price="10.00", on_hand=10), 3))
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                       currency="USD").order


def form_data(order, carrier, *, quantity=2, number="JD77", reason="picked by Sam", warehouse=None):
    line = order.lines.get()
    return {"warehouse": (warehouse or line.allocations.get().warehouse).pk, "carrier": carrier.pk,
            "tracking_number": number, f"line_{line.pk}": quantity, "reason": reason}


def test_create_a_shipment_from_the_orders_page(order):
    clerk = staff("orders.view_order", "orders.change_order")
    carrier = carrier_new()
    page = clerk.get(f"{ORDERS}{order.pk}/change/")
    assert f'href="{ORDERS}{order.pk}/ship/"' in page.content.decode()
    form = clerk.get(f"{ORDERS}{order.pk}/ship/")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="tracking_number"' in html and 'name="reason"' in html and "Left to ship:" in html

    no_reason = clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier, reason=""))
    assert no_reason.status_code == 200 and no_reason.context["form"].errors["reason"]
    elsewhere = clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier, number="JD78",
                                                                  warehouse=make_warehouse("far")))
    assert elsewhere.status_code == 200
    assert elsewhere.context["form"].errors["warehouse"]  # only warehouses holding units of the order are offered
    assert not Shipment.objects.exists() and not AuditLog.objects.exists()

    done = clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier))
    assert done.status_code == 302 and done["Location"] == f"{ORDERS}{order.pk}/change/"
    parcel = Shipment.objects.get()
    assert (parcel.tracking_number, parcel.created_by, parcel.lines.get().quantity) == ("JD77", clerk.user, 2)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert order.events.last().reason == "Shipped JD77 with DHL: picked by Sam"
    assert AuditLog.objects.filter(action="shipment_create", data__ok=True).count() == 1

    exceeding = clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier, quantity=2, number="JD79"))
    assert exceeding.status_code == 200
    assert "At most 1" in str(exceeding.context["form"].non_field_errors())
    assert Shipment.objects.count() == 1
    refused = AuditLog.objects.get(action="shipment_create", data__ok=False)
    assert refused.data["refused"] == "shipment_exceeds_allocation" and refused.reason == "picked by Sam"


def test_mark_one_parcel_delivered_with_a_reason(order):
    clerk = staff("orders.view_order", "orders.change_order")
    carrier = carrier_new()
    clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier, quantity=3))
    parcel = Shipment.objects.get()
    page = clerk.get(f"{ORDERS}{order.pk}/change/").content.decode()
    deliver_url = f"{ORDERS}{order.pk}/shipments/{parcel.pk}/deliver/"
    assert f'href="{deliver_url}"' in page and "JD77" in page
    asked = clerk.get(deliver_url)
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert clerk.post(deliver_url, {"reason": " "}).context["form"].errors["reason"]
    parcel.refresh_from_db()
    assert parcel.status == Shipment.Status.SHIPPED
    assert clerk.post(deliver_url, {"reason": "signed by neighbour"}).status_code == 302
    parcel.refresh_from_db()
    order.refresh_from_db()
    assert parcel.status == Shipment.Status.DELIVERED and order.status == Order.Status.DELIVERED
    assert order.events.last().reason == "Parcel JD77 delivered: signed by neighbour"
    assert AuditLog.objects.get(action="shipment_deliver").reason == "signed by neighbour"
    assert f'href="{deliver_url}"' not in clerk.get(f"{ORDERS}{order.pk}/change/").content.decode()


def test_viewers_cannot_create_or_deliver_shipments(order):
    viewer = staff("orders.view_order")
    carrier = carrier_new()
    assert f"{ORDERS}{order.pk}/ship/" not in viewer.get(f"{ORDERS}{order.pk}/change/").content.decode()
    assert viewer.get(f"{ORDERS}{order.pk}/ship/").status_code == 403
    assert viewer.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier)).status_code == 403
    assert not Shipment.objects.exists()
    clerk = staff("orders.view_order", "orders.change_order")
    clerk.post(f"{ORDERS}{order.pk}/ship/", form_data(order, carrier))
    parcel = Shipment.objects.get()
    assert viewer.post(f"{ORDERS}{order.pk}/shipments/{parcel.pk}/deliver/", {"reason": "x"}).status_code == 403
    parcel.refresh_from_db()
    assert parcel.status == Shipment.Status.SHIPPED
    # A parcel is reached only through its own order's page.
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price="10.00", on_hand=10), 1))
    other = order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                        currency="USD").order
    assert clerk.get(f"{ORDERS}{other.pk}/shipments/{parcel.pk}/deliver/").status_code == 404
