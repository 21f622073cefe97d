"""Orders in admin: each action needs its permission, asks for a reason, and is audited with its outcome."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.test import Client

from payments.models import AuditLog, Payment, Wallet
from shop.orders.models import Order, OrderEvent, ReturnRequest
from shop.orders.services.checkout import order_place
from shop.orders.services.returns import return_request_create
from tests.orders.factories import UserFactory, cart_fill, make_product, shopper_new
from tests.orders.shipments import carrier_new, ship_all
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db

_groups = importlib.import_module("payments.migrations.0005_staff_groups")


@pytest.fixture
def roles(db):
    """The "support" and "finance" groups as payments' data migration makes them."""
    _groups.create_groups(apps, None)
    return {name: Group.objects.get(name=name) for name in ("support", "finance")}


def staff_client(*, group=None, perms=()) -> Client:
    user = UserFactory(is_staff=True)
    if group is not None:
        user.groups.add(group)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def paid_order(price="10.00", quantity=2) -> Order:
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price=price, on_hand=10), quantity))
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", shipping_address=user.addresses.first().pk,
                       currency="USD").order


def act(client, changelist, action, ids, reason=None, **fields):
    data = {"action": action, "_selected_action": ids, **fields}
    if reason is not None:
        data.update(apply="1", reason=reason)
    return client.post(changelist, data)


def offered(client, changelist) -> set[str]:
    """The actions the changelist offers this staff member (none: no action form at all)."""
    form = client.get(changelist).context["action_form"]
    return {name for name, _label in form.fields["action"].choices if name} if form else set()


ORDERS = "/admin/orders/order/"
RETURNS = "/admin/orders/returnrequest/"


def test_support_sees_orders_but_cannot_run_any_order_action(roles):
    support = staff_client(group=roles["support"])
    order = paid_order()
    ship_all(order)
    request = return_request_create(order_id=order.pk, user=order.user, lines={order.lines.get().pk: 1}, reason="x")
    events = OrderEvent.objects.count()
    assert support.get(ORDERS).status_code == 200
    assert offered(support, ORDERS) == set()
    assert offered(support, RETURNS) == set()
    for action in ("ship_everything", "mark_delivered", "cancel", "refund", "cancel_unshipped"):
        assert act(support, ORDERS, action, [order.pk], reason="because").status_code == 403, action
    for action in ("approve", "reject"):
        assert act(support, RETURNS, action, [request.pk], reason="because").status_code == 403, action
    order.refresh_from_db()
    request.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert request.status == ReturnRequest.Status.REQUESTED
    assert OrderEvent.objects.count() == events
    assert Payment.objects.get(pk=order.payment_id).status == Payment.Status.SUCCEEDED
    assert not AuditLog.objects.exists()


def test_staff_with_change_order_ship_everything_with_a_tracking_number_and_a_required_reason(roles):
    clerk = staff_client(perms=["orders.view_order", "orders.change_order"])
    order = paid_order()
    carrier = carrier_new()
    assert offered(clerk, ORDERS) == {"ship_everything", "mark_delivered", "cancel"}
    page = act(clerk, ORDERS, "ship_everything", [order.pk])
    assert page.status_code == 200
    assert b'name="reason"' in page.content and b'name="tracking_numbers"' in page.content
    no_reason = act(clerk, ORDERS, "ship_everything", [order.pk], reason="  ", carrier=carrier.pk,
                    tracking_numbers="00340434")
    assert no_reason.status_code == 200
    assert no_reason.context["form"].errors["reason"]
    no_number = act(clerk, ORDERS, "ship_everything", [order.pk], reason="picked", carrier=carrier.pk,
                    tracking_numbers=" ")
    assert no_number.context["form"].errors["tracking_numbers"]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert not AuditLog.objects.exists()

    assert act(clerk, ORDERS, "ship_everything", [order.pk], reason="picked and packed", carrier=carrier.pk,
               tracking_numbers="00340434").status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    shipment = order.shipments.get()
    assert (shipment.carrier, shipment.tracking_number, shipment.created_by) == (carrier, "00340434", clerk.user)
    event = order.events.last()
    assert (event.to_status, event.actor, event.reason) == (
        "shipped", clerk.user, "Shipped 00340434 with DHL: picked and packed"
    )
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.object_id, entry.reason, entry.data) == (
        "order_ship_everything", clerk.user, str(order.pk), "picked and packed",
        {"ok": True, "tracking_numbers": ["00340434"]},
    )
    # Refunding is not theirs, even with change_order.
    assert act(clerk, ORDERS, "refund", [order.pk], reason="x").status_code == 403


def test_ship_everything_wants_one_tracking_number_per_parcel(roles):
    clerk = staff_client(perms=["orders.view_order", "orders.change_order"])
    first, second = paid_order(), paid_order()
    carrier = carrier_new()
    response = act(clerk, ORDERS, "ship_everything", [first.pk, second.pk], reason="packed", carrier=carrier.pk,
                   tracking_numbers="ONLY1")
    assert response.status_code == 302
    assert not first.shipments.exists() and not second.shipments.exists()
    assert act(clerk, ORDERS, "ship_everything", [first.pk, second.pk], reason="packed", carrier=carrier.pk,
               tracking_numbers="A1, B2").status_code == 302
    assert first.shipments.get().tracking_number == "A1"
    assert second.shipments.get().tracking_number == "B2"


def test_a_refused_action_is_audited_as_refused(roles):
    clerk = staff_client(perms=["orders.view_order", "orders.change_order"])
    order = paid_order()
    assert act(clerk, ORDERS, "cancel", [order.pk], reason="shopper called").status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    entry = AuditLog.objects.get()
    assert (entry.action, entry.reason) == ("order_cancel", "shopper called")
    assert entry.data["ok"] is False and entry.data["refused"] == "invalid_transition"


def test_finance_refunds_an_order_with_a_reason(roles):
    finance = staff_client(group=roles["finance"])
    order = paid_order(price="12.00", quantity=1)
    assert "refund" in offered(finance, ORDERS)
    assert "ship_everything" not in offered(finance, ORDERS)
    assert act(finance, ORDERS, "refund", [order.pk]).status_code == 200  # asks why first
    assert Wallet.objects.get(user=order.user).balance == Decimal("88.00")
    assert act(finance, ORDERS, "refund", [order.pk], reason="parcel lost by courier").status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert Wallet.objects.get(user=order.user).balance == Decimal("100.00")
    assert order.events.last().reason == "parcel lost by courier"
    entry = AuditLog.objects.get(action="order_refund")
    assert (entry.actor, entry.reason) == (finance.user, "parcel lost by courier")
    assert entry.data == {"ok": True, "refunded_total": "12.00", "currency": "USD", "status": "refunded"}


def test_approving_a_return_needs_the_return_change_and_the_refund_permissions(roles):
    order = paid_order(price="10.00", quantity=2)
    ship_all(order)
    request = return_request_create(order_id=order.pk, user=order.user, lines={order.lines.get().pk: 1}, reason="x")
    clerk = staff_client(perms=["orders.view_returnrequest", "orders.change_returnrequest"])
    refunder = staff_client(perms=["orders.view_returnrequest", "payments.refund_payment"])
    assert offered(clerk, RETURNS) == {"reject"}
    assert act(clerk, RETURNS, "approve", [request.pk], reason="ok").status_code == 403
    assert act(refunder, RETURNS, "approve", [request.pk], reason="ok").status_code == 403
    request.refresh_from_db()
    assert request.status == ReturnRequest.Status.REQUESTED

    both = staff_client(group=roles["finance"])  # finance holds both (orders.0002_fulfilment_role)
    assert offered(both, RETURNS) == {"approve", "reject"}
    assert act(both, RETURNS, "approve", [request.pk], reason="item unused").status_code == 302
    request.refresh_from_db()
    assert request.status == ReturnRequest.Status.APPROVED
    assert Wallet.objects.get(user=order.user).balance == Decimal("90.00")
    entry = AuditLog.objects.get(action="return_request_approve")
    assert (entry.actor, entry.reason, entry.data) == (
        both.user, "item unused", {"ok": True, "status": "approved", "refund": "10.00"}
    )


def test_rejecting_a_return_records_the_reason(roles):
    order = paid_order()
    ship_all(order)
    request = return_request_create(order_id=order.pk, user=order.user, lines={order.lines.get().pk: 1}, reason="x")
    clerk = staff_client(perms=["orders.view_returnrequest", "orders.change_returnrequest"])
    assert act(clerk, RETURNS, "reject", [request.pk], reason="worn").status_code == 302
    request.refresh_from_db()
    assert request.status == ReturnRequest.Status.REJECTED
    assert order.events.last().reason == "Return request rejected: worn"  # no internal id for the shopper
    assert AuditLog.objects.get(action="return_request_reject").reason == "worn"


def test_order_page_shows_the_address_its_buttons_and_no_irrelevant_fields(roles):
    clerk = staff_client(perms=["orders.view_order", "orders.change_order"])
    order = paid_order()
    page = clerk.get(f"{ORDERS}{order.pk}/change/")
    html = page.content.decode()
    address = order.shipping_address
    assert f"{address['postal_code']} {address['city']}" in html  # formatted, not JSON
    assert "Checkout token" not in html and "reservation expires" not in html.lower()
    # The paid order's own buttons: create a shipment, ship everything; not deliver or cancel; refund is finance's.
    actions = ("ship_everything", "mark_delivered", "cancel", "refund", "cancel_unshipped")
    buttons = {v for v in actions if f'value="{v}"' in html}
    assert buttons == {"ship_everything"}
    assert f'href="{ORDERS}{order.pk}/ship/"' in html
    # The button posts to the list's action, which asks for a reason first.
    asked = act(clerk, ORDERS, "ship_everything", [order.pk])
    assert b'name="reason"' in asked.content


def test_the_order_page_shows_its_stored_price_components_read_only(admin_client):
    """Subtotal, each discount, shipping (method and carrier), the tax summary, gift cards and the total, once."""
    from djmoney.money import Money

    from shop.pricing.models import TaxClass, TaxRate
    from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

    TaxRate.objects.create(country="DE", tax_class=TaxClass.STANDARD, rate=Decimal("19"))
    method = MethodFactory(name="Standard", zones=[ZoneFactory(countries=["DE"])])
    price_add(method, "USD", price="4.90")
    user = shopper_new(funds="100.00")
    cart_fill(user, (make_product(price="10.00", on_hand=10), 2))
    order = order_place(shipping_method=method.pk, user=user, payment_method="wallet",
                        shipping_address=user.addresses.first().pk, currency="USD").order
    Order.objects.filter(pk=order.pk).update(gift_card_total=Money("0.00", "USD"))
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    html = page.content.decode()
    table = html[html.index('<table class="order-price-components">'):]
    table = table[:table.index("</table>")]
    for text in ("Subtotal", "$20.00", "Shipping (Standard, ", "$4.90", "VAT 19 %", "$3.97 on net $20.93 (gross $24.90)",
                 "Tax total (shipping: $0.78)", "Gift cards", "Total", "<strong>$24.90</strong>"):
        assert text in table, (text, table)
    # Read-only, and shown once: no form input for any component, no raw field rows besides the table.
    assert page.context["adminform"].form.fields == {}
    assert 'class="form-row field-subtotal' not in html and 'field-tax_summary' not in html
