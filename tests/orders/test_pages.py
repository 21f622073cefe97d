from decimal import Decimal

import pytest
from django.test import Client

from payments.models import Payment
from shop.orders.models import Order, ReturnRequest
from tests.orders.factories import cart_fill, shopper_new
from tests.orders.helpers import go_to_review, place_order_form, stock_of
from tests.orders.shipments import carrier_new, ship_all
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(shopper):
    client = Client()
    client.force_login(shopper)
    return client


def test_checkout_steps_place_a_paid_order(browser, shopper, product):
    cart_fill(shopper, (product, 2))
    form = go_to_review(browser, shopper)
    response = browser.post("/orders/checkout/place/", form, follow=True)
    order = Order.objects.get()
    assert response.redirect_chain[-1][0] == f"/orders/{order.number}/"
    assert order.status == Order.Status.PAID
    page = response.content.decode()
    assert order.number in page
    assert "Thank you" in page
    # The timeline names the states in words, not as codes.
    assert "pending payment → <strong>paid</strong>" in page
    assert "pending_payment" not in page


def test_a_double_click_makes_one_order(browser, shopper, product):
    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    first = browser.post("/orders/checkout/place/", form)
    second = browser.post("/orders/checkout/place/", form)
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    # Both clicks land on the one order (the second one no longer falls back to an empty checkout).
    number = Order.objects.get().number
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/orders/{number}/"


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(browser):
    assert browser.get("/orders/checkout/")["Location"] == "/cart/"


def test_a_guest_with_an_empty_cart_is_sent_back_to_the_cart(product):
    """Guests may check out (tests/orders/test_guest_checkout.py), but not an empty cart."""
    response = Client().get("/orders/checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/cart/"


def test_new_address_is_validated(browser, shopper, product):
    cart_fill(shopper, (product, 1))
    response = browser.post("/orders/checkout/", {"address": "", "full_name": "Ada"})
    assert response.status_code == 200
    assert response.context["form"].errors["line1"]
    response = browser.post(
        "/orders/checkout/",
        {"address": "", "full_name": "Ada", "line1": "1 Way", "city": "Rome", "postal_code": "00100", "country": "IT"},
    )
    assert response.status_code == 302
    assert browser.session["checkout"]["address"]["city"] == "Rome"


def test_insufficient_funds_on_the_page_tells_why_and_keeps_the_cart(product):
    user = shopper_new(funds="1.00")
    client = Client()
    client.force_login(user)
    cart_fill(user, (product, 1))
    form = go_to_review(client, user)
    response = client.post("/orders/checkout/place/", form, follow=True)
    assert not Order.objects.exists()
    assert any("balance" in str(m).lower() for m in response.context["messages"])
    assert stock_of(product) == (10, 0)


def test_page_checkout_is_rate_limited(browser, shopper, product, checkout_limit_per_day):
    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    for _ in range(10):
        browser.post("/orders/checkout/place/", form)
    response = browser.post("/orders/checkout/place/", form)
    assert response.status_code == 429
    assert "Too many checkout attempts" in response.content.decode()


def test_history_detail_and_someone_elses_order(browser, shopper, product):
    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    browser.post("/orders/checkout/place/", form)
    order = Order.objects.get()
    history = browser.get("/orders/")
    assert order.number in history.content.decode()
    stranger = Client()
    stranger.force_login(shopper_new())
    assert stranger.get(f"/orders/{order.number}/").status_code == 404
    assert stranger.post(f"/orders/{order.number}/cancel/").status_code == 404


def test_cancel_a_paid_order_on_the_page_is_refused(browser, shopper, product):
    cart_fill(shopper, (product, 1))
    browser.post("/orders/checkout/place/", go_to_review(browser, shopper))
    order = Order.objects.get()
    response = browser.post(f"/orders/{order.number}/cancel/", follow=True)
    assert any("cannot" in str(m) for m in response.context["messages"])
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_request_a_return_on_the_page(browser, shopper, product):
    cart_fill(shopper, (product, 2))
    browser.post("/orders/checkout/place/", go_to_review(browser, shopper))
    order = Order.objects.get()
    line = order.lines.get()
    ship_all(order)
    assert browser.get(f"/orders/{order.number}/return/").status_code == 200
    response = browser.post(f"/orders/{order.number}/return/", {f"line_{line.id}": 1, "reason": "wrong colour"})
    assert response.status_code == 302
    assert ReturnRequest.objects.get().lines.get().quantity == 1


def test_admin_actions_call_the_services(shopper, product, admin_client):
    cart_fill(shopper, (product, 1))
    from shop.orders.services.checkout import order_place

    order = order_place(shipping_method=shipping_method_everywhere(), user=shopper, payment_method="wallet", shipping_address=shopper.addresses.first().pk, currency="USD").order
    carrier = carrier_new()
    response = admin_client.post(
        "/admin/orders/order/",
        {"action": "ship_everything", "_selected_action": [order.pk], "apply": "1", "reason": "packed",
         "carrier": carrier.pk, "tracking_numbers": "DHL123"}, follow=True,
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.events.last().actor.is_staff
    admin_client.post(
        "/admin/orders/order/", {"action": "cancel", "_selected_action": [order.pk], "apply": "1", "reason": "x"}
    )
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED  # refused: already paid
    assert admin_client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200
    assert admin_client.get("/admin/orders/order/?status__exact=shipped").status_code == 200


def test_checkout_review_query_count_does_not_grow_with_the_lines(browser, shopper, django_assert_max_num_queries):
    from tests.orders.factories import make_product

    products = [make_product() for _ in range(8)]
    cart_fill(shopper, (products[0], 1))
    go_to_review(browser, shopper)
    with django_assert_max_num_queries(20) as small:
        browser.get("/orders/checkout/review/")
    cart_fill(shopper, *[(p, 1) for p in products[1:]])
    with django_assert_max_num_queries(20) as large:
        browser.get("/orders/checkout/review/")
    assert len(large.captured_queries) == len(small.captured_queries)


def test_switching_currency_after_review_is_refused_with_a_form_error(browser, shopper, product, rates):
    from tests.orders.factories import wallet_with_balance

    wallet_with_balance(shopper, "100.00", "EUR")
    cart_fill(shopper, (product, 2))
    form = go_to_review(browser, shopper)
    assert (form["currency"], form["total"]) == ("USD", "20.00")
    browser.post("/currency/", {"currency": "EUR", "next": "/"})  # in another tab
    response = browser.post("/orders/checkout/place/", form)
    assert response.status_code == 409
    assert "You changed the currency to EUR" in response.content.decode()
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)
    # The page now shows the EUR total on its button; placing it charges exactly that.
    again = place_order_form(response.content.decode())
    assert again["currency"] == "EUR"
    assert "Place order and pay" in response.content.decode()
    assert browser.post("/orders/checkout/place/", again).status_code == 302
    order = Order.objects.get()
    assert (order.currency, str(order.total.amount)) == ("EUR", again["total"])


def test_a_price_change_after_review_is_refused_with_a_form_error(browser, shopper, product):
    from catalog.services.products import product_update

    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    product_update(product=product, price=Decimal("12.50"))
    response = browser.post("/orders/checkout/place/", form)
    assert response.status_code == 409
    assert "Your order total is now $12.50, not $10.00" in response.content.decode()
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def test_a_tampered_place_form_is_refused(browser, shopper, product):
    cart_fill(shopper, (product, 1))
    form = go_to_review(browser, shopper)
    for bad in ({"total": "abc"}, {"currency": "XXX"}, {"total": "0.01"}):
        response = browser.post("/orders/checkout/place/", {**form, **bad})
        assert response.status_code in (400, 409)
        assert "errorlist" in response.content.decode()
    assert not Order.objects.exists()
