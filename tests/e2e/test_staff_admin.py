"""Staff in Django admin: ship an order, then approve the shopper's return, which refunds it to the wallet."""

from decimal import Decimal

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import User
from payments.models import Wallet
from payments.services import wallets
from shop.cart.services import CartOwner, cart_line_add
from shop.orders.models import Order, ReturnRequest
from shop.orders.services.checkout import order_place
from tests.e2e.journeys import ADDRESS, PASSWORD, log_in
from tests.orders.shipments import carrier_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _admin_action(page, changelist: str, object_id: int, action: str) -> None:
    page.goto(changelist)
    page.locator(f"input[name=_selected_action][value='{object_id}']").check()
    page.locator("select[name=action]").select_option(action)
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    page.locator("input[name=reason]").fill("e2e: " + action)  # order actions ask why first
    page.locator("input[type=submit].default").click()
    page.wait_for_load_state()


def test_staff_ships_then_approves_and_refunds_a_return(new_page, shot, psp, shop_catalog, verified_user):
    cat = shop_catalog
    shopper = verified_user("dave.e2e@example.com")
    wallet = wallets.wallet_open(user=shopper, currency="USD")
    wallets.wallet_demo_credit(wallet_id=wallet.pk, amount=Money("300.00", "USD"), reference="e2e-staff-funds")
    cart_line_add(owner=CartOwner(user=shopper), product_id=cat.aurora.pk, quantity=2)
    order = order_place(shipping_method=shipping_method_everywhere(), user=shopper, payment_method="wallet", currency="USD", shipping_address=dict(ADDRESS)).order
    assert order.status == Order.Status.PAID
    User.objects.create_superuser(email="staff.e2e@example.com", password=PASSWORD)

    staff = new_page()
    staff.goto("/admin/")
    staff.locator("input[name=username]").fill("staff.e2e@example.com")
    staff.locator("input[name=password]").fill(PASSWORD)
    staff.locator("input[type=submit]").click()
    staff.wait_for_load_state()
    expect(staff.locator("#user-tools")).to_be_visible()
    shot(staff, "admin-home")

    # Staff ship it from the order's own page: lines, warehouse, carrier, tracking number and a reason.
    carrier = carrier_new()
    staff.goto(f"/admin/orders/order/{order.pk}/change/")
    staff.get_by_role("link", name="Create shipment…").click()
    staff.wait_for_load_state()
    line = order.lines.get()
    warehouse = line.allocations.get().warehouse
    staff.locator("select[name=warehouse]").select_option(str(warehouse.pk))
    staff.locator("select[name=carrier]").select_option(str(carrier.pk))
    staff.locator("input[name=tracking_number]").fill("00340434E2E")
    staff.locator(f"input[name=line_{line.pk}]").fill("2")
    staff.locator("input[name=reason]").fill("e2e: packed")
    shot(staff, "create-shipment")
    staff.locator("input[type=submit].default").click()
    staff.wait_for_load_state()
    expect(staff.locator("ul.messagelist li.success")).to_be_visible()
    shot(staff, "order-shipped")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED

    # The shopper asks to return one of the two headphones.
    shopper_page = new_page()
    log_in(shopper_page, shopper.email)
    shopper_page.goto(f"/orders/{order.number}/")
    expect(shopper_page.locator(".shipment a[href='https://track.example.com/parcels/00340434E2E']")).to_be_visible()
    shopper_page.locator(f"a[href='/orders/{order.number}/return/']").click()
    shopper_page.wait_for_load_state()
    shopper_page.locator(f"input[name=line_{line.pk}]").fill("1")
    shopper_page.locator("textarea[name=reason]").fill("Too loud for the office.")
    shot(shopper_page, "return-request")
    shopper_page.locator("main form.card button[type=submit]").click()
    shopper_page.wait_for_load_state()
    expect(shopper_page.locator(".messages .message.success")).to_be_visible()
    return_request = ReturnRequest.objects.get(order=order)
    assert return_request.status == ReturnRequest.Status.REQUESTED

    _admin_action(staff, "/admin/orders/returnrequest/", return_request.pk, "approve")
    expect(staff.locator("ul.messagelist li.success")).to_be_visible()
    shot(staff, "return-approved")
    return_request.refresh_from_db()
    order.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.APPROVED
    assert order.refunded_total == cat.aurora.price
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("300.00") - order.total.amount + cat.aurora.price.amount

    # Staff see the refund on the order; the shopper sees it and the timeline.
    staff.goto(f"/admin/orders/order/{order.pk}/change/")
    shot(staff, "order-after-refund")
    shopper_page.goto(f"/orders/{order.number}/")
    expect(shopper_page.locator("ol.timeline li strong").filter(has_text="shipped").first).to_be_visible()
    expect(shopper_page.locator("aside").get_by_text("Refunded")).to_be_visible()
    expect(shopper_page.locator(".return-request")).to_contain_text("approved")  # the return lists its items
    shot(shopper_page, "order-refunded")
    assert not staff.js_errors and not shopper_page.js_errors
