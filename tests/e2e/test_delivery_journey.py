"""Delivery, end to end: the shopper picks a paid shipping method and sees its cost in the review; staff ship
the order in two parcels from its admin page; the shopper's order page links both parcels' tracking pages.

One journey: the shopper checks out on a phone and reads the order page on a desktop, staff use admin on a
desktop (every storefront page is checked with axe-core by `shot`)."""

from decimal import Decimal

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import User
from catalog.models import Stock
from payments.services import wallets
from shop.cart.services import CartOwner, cart_line_add
from shop.orders.models import Order
from tests.e2e.journeys import ADDRESS, PASSWORD, address_fill, log_in
from tests.orders.shipments import carrier_new
from tests.shipping.factories import MethodFactory, ZoneFactory, price_add

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _checkout_with_method(page, shot, method_id: int) -> None:
    """Cart -> address -> delivery and payment (the chosen method, the wallet) -> review; ends on the review."""
    page.goto("/cart/")
    page.locator("a[href='/orders/checkout/']").click()
    page.wait_for_load_state()
    new = page.locator("input[name=address][value='']")
    if new.count():
        new.check()
    address_fill(page, ADDRESS)  # the country is chosen from its list
    shot(page, "checkout-address")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()
    express = page.locator(f"input[name=shipping_method][value='{method_id}']")
    expect(express).to_be_visible()
    express.check()
    page.locator("input[name=payment_method][value=wallet]").check()
    shot(page, "checkout-delivery-and-payment")
    page.locator("main form.card button[type=submit]").click()
    page.wait_for_load_state()


def _ship_from_admin(staff, shot, order, line, carrier, number: str) -> None:
    """Staff's "Create shipment…" button on the order's page: one line, its warehouse, carrier and number."""
    staff.goto(f"/admin/orders/order/{order.pk}/change/")
    staff.get_by_role("link", name="Create shipment…").click()
    staff.wait_for_load_state()
    staff.locator("select[name=warehouse]").select_option(str(line.allocations.get().warehouse_id))
    staff.locator("select[name=carrier]").select_option(str(carrier.pk))
    staff.locator("input[name=tracking_number]").fill(number)
    staff.locator(f"input[name=line_{line.pk}]").fill(str(line.quantity))
    staff.locator("input[name=reason]").fill(f"e2e: parcel {number}")
    shot(staff, f"create-shipment-{number}")
    staff.locator("input[type=submit].default").click()
    staff.wait_for_load_state()
    expect(staff.locator("ul.messagelist li.success")).to_be_visible()


def test_shopper_chooses_express_staff_ship_two_parcels_shopper_follows_both(
    new_page, shot, shop_catalog, verified_user
):
    cat = shop_catalog
    carrier = carrier_new("dhl", name="DHL")
    express = MethodFactory(
        name="Express",
        carrier=carrier,
        zones=[ZoneFactory(countries=["DE"])],
        min_delivery_days=1,
        max_delivery_days=2,
    )
    price_add(express, "USD", price="9.90")
    shopper = verified_user("erin.e2e@example.com")
    wallet = wallets.wallet_open(user=shopper, currency="USD")
    wallets.wallet_demo_credit(
        wallet_id=wallet.pk, amount=Money("300.00", "USD"), reference="e2e-delivery-funds"
    )
    owner = CartOwner(user=shopper)
    cart_line_add(owner=owner, product_id=cat.aurora.pk, quantity=1)
    cart_line_add(owner=owner, product_id=cat.guide.pk, quantity=2)

    # The shopper, on a phone: the review shows the chosen method and its price.
    phone = new_page(phone=True)
    log_in(phone, shopper.email)
    _checkout_with_method(phone, shot, express.pk)
    breakdown = phone.locator("table.price-breakdown")
    expect(breakdown.locator("tr", has_text="Shipping")).to_contain_text("Express")
    expect(breakdown.locator("tr", has_text="Shipping")).to_contain_text("$9.90")
    expect(breakdown.locator("tfoot")).to_contain_text("$138.90")  # 79.00 + 2 x 25.00 + 9.90
    expect(phone.locator("main")).to_contain_text("Express (DHL), 1–2 working days")
    shot(phone, "checkout-review")
    phone.locator("form[action='/orders/checkout/place/'] button[type=submit]").click()
    phone.wait_for_load_state()
    order = Order.objects.get(user=shopper)
    assert order.status == Order.Status.PAID
    assert order.shipping_price == Money("9.90", "USD") and order.total == Money("138.90", "USD")
    assert order.shipping["name"] == "Express"

    # Staff ship it in two parcels from the order's own page.
    User.objects.create_superuser(email="ship.e2e@example.com", password=PASSWORD)
    staff = new_page()
    staff.goto("/admin/")
    staff.locator("input[name=username]").fill("ship.e2e@example.com")
    staff.locator("input[name=password]").fill(PASSWORD)
    staff.locator("input[type=submit]").click()
    staff.wait_for_load_state()
    aurora, guide = order.lines.get(product=cat.aurora), order.lines.get(product=cat.guide)
    _ship_from_admin(staff, shot, order, aurora, carrier, "E2EPARCEL1")
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    _ship_from_admin(staff, shot, order, guide, carrier, "E2EPARCEL2")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    # Each parcel took its units out of the warehouse: nothing sold waits any more.
    assert not Stock.objects.filter(committed__gt=0).exists()
    staff.goto(f"/admin/orders/order/{order.pk}/change/")
    expect(staff.locator("table.order-price-components")).to_contain_text("$9.90")
    shot(staff, "order-shipped-admin")

    # The shopper, on a desktop: both parcels with their tracking links.
    desktop = new_page()
    log_in(desktop, shopper.email)
    desktop.goto(f"/orders/{order.number}/")
    for number in ("E2EPARCEL1", "E2EPARCEL2"):
        link = desktop.locator(f".shipment a[href='https://track.example.com/parcels/{number}']")
        expect(link).to_be_visible()
        expect(link).to_contain_text("Track this parcel at DHL")
    shot(desktop, "order-with-two-parcels")
    assert Decimal(order.total.amount) == Decimal("138.90")
    assert not phone.js_errors and not staff.js_errors and not desktop.js_errors
