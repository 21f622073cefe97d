import uuid
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from payments.models import Payment, Wallet
from shop.cart.services import CartOwner, cart_clear
from shop.orders.models import Order
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.orders.helpers import go_to_review, stock_of
from tests.orders.shipments import ship_all
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


def checkout(client, body, key=None):
    return client.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": key or str(uuid.uuid4())})


def wallet_body(user):
    return {
        "payment_method": "wallet", "shipping_method": shipping_method_everywhere(),
        "shipping_address": user.addresses.first().pk,
    }


def test_wallet_checkout_is_201_with_the_order(api, shopper, product):
    cart_fill(shopper, (product, 2))
    response = checkout(api, wallet_body(shopper))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "paid"
    assert body["number"].startswith("SO-")
    assert body["total"] == {"amount": "20.00", "currency": "USD"}
    assert body["lines"][0]["sku"] == product.sku
    assert [e["to_status"] for e in body["events"]] == ["pending_payment", "paid"]


def test_the_same_idempotency_key_twice_makes_one_order_and_one_charge(api, shopper, product):
    cart_fill(shopper, (product, 1))
    first = checkout(api, wallet_body(shopper), key="k-1")
    cart_fill(shopper, (product, 1))
    second = checkout(api, wallet_body(shopper), key="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["number"] == second.json()["number"]
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert Wallet.objects.get(user=shopper).balance == Decimal("90.00")
    reused = checkout(api, {**wallet_body(shopper), "currency": "USD"}, key="k-1")
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"


def test_checkout_needs_an_idempotency_key(api, shopper, product):
    cart_fill(shopper, (product, 1))
    response = api.post("/api/v1/orders/", wallet_body(shopper), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert not Order.objects.exists()


def test_insufficient_funds_is_402_and_nothing_is_reserved(product):
    user = shopper_new(funds="1.00")
    client = APIClient()
    client.force_authenticate(user)
    cart_fill(user, (product, 1))
    response = checkout(client, wallet_body(user))
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_funds"
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"shipping_address": 10**9}, "shipping_address"),
        ({"shipping_address": "x"}, "shipping_address"),
        ({"shipping_address": {"line1": "nowhere"}}, "shipping_address.full_name"),
        ({"payment_method": "cash"}, "payment_method"),
        ({"payment_method": "card", "card_token": ""}, "card_token"),
        ({"currency": "XXX"}, "currency"),
    ],
)
def test_bad_input_is_400_with_the_field_and_nothing_changes(api, shopper, product, change, field):
    cart_fill(shopper, (product, 1))
    response = checkout(api, {**wallet_body(shopper), **change})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)


def test_inactive_product_in_the_cart_is_400(api, shopper, product):
    from catalog.services.products import product_update

    cart_fill(shopper, (product, 1))
    product_update(product=product, is_active=False)
    response = checkout(api, wallet_body(shopper))
    assert response.status_code == 400
    assert response.json()["field"] == "product"
    assert not Order.objects.exists()


def test_out_of_stock_is_409(api, shopper):
    from catalog.services.stock import stock_adjust

    product = make_product(on_hand=2)
    cart_fill(shopper, (product, 2))
    stock_adjust(product_id=product.id, delta=-1, reason="x")
    response = checkout(api, wallet_body(shopper))
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"


def test_list_detail_and_someone_elses_order(api, shopper, product):
    cart_fill(shopper, (product, 1))
    number = checkout(api, wallet_body(shopper)).json()["number"]
    listing = api.get("/api/v1/orders/").json()
    assert listing["count"] == 1
    assert listing["results"][0]["number"] == number
    assert api.get(f"/api/v1/orders/{number}/").json()["number"] == number
    stranger = APIClient()
    stranger.force_authenticate(shopper_new())
    assert stranger.get(f"/api/v1/orders/{number}/").status_code == 404
    assert stranger.post(f"/api/v1/orders/{number}/cancel/").status_code == 404
    assert stranger.get("/api/v1/orders/").json()["count"] == 0


def test_cancel_a_paid_order_is_409_invalid_transition(api, shopper, product):
    cart_fill(shopper, (product, 1))
    number = checkout(api, wallet_body(shopper)).json()["number"]
    response = api.post(f"/api/v1/orders/{number}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_return_request_through_the_api(api, shopper, product):
    cart_fill(shopper, (product, 2))
    body = checkout(api, wallet_body(shopper)).json()
    line = body["lines"][0]["id"]
    ask = {"reason": "too small", "lines": [{"line": line, "quantity": 1}]}
    unshipped = api.post(f"/api/v1/orders/{body['number']}/returns/", ask, format="json")
    assert unshipped.status_code == 409 and unshipped.json()["code"] == "invalid_transition"  # nothing shipped yet
    ship_all(Order.objects.get(number=body["number"]))
    response = api.post(f"/api/v1/orders/{body['number']}/returns/", ask, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "requested"
    bad = api.post(
        f"/api/v1/orders/{body['number']}/returns/", {"reason": "x", "lines": [{"line": line, "quantity": 5}]},
        format="json",
    )
    assert bad.status_code == 400


def test_checkout_is_rate_limited_per_user(api, shopper, product, checkout_limit_per_day):
    for _ in range(10):
        checkout(api, wallet_body(shopper))  # empty cart after the first: 400s still count
    response = checkout(api, wallet_body(shopper))
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "wait" in response.json()["detail"]
    assert api.get("/api/v1/orders/").status_code == 200  # reading is not limited


def test_checkout_query_count_grows_by_a_small_constant_per_line(api, shopper, django_assert_max_num_queries):
    products = [make_product() for _ in range(6)]
    cart_fill(shopper, (products[0], 1))
    # The absolute numbers include payments' and catalog's own work; the point is the growth per line.
    with django_assert_max_num_queries(150) as one:
        assert checkout(api, wallet_body(shopper)).status_code == 201
    cart_fill(shopper, *[(p, 1) for p in products[1:]])
    with django_assert_max_num_queries(170) as six:
        assert checkout(api, wallet_body(shopper)).status_code == 201
    per_line = (len(six.captured_queries) - len(one.captured_queries)) / 5
    assert per_line <= 4, per_line


def test_a_card_number_instead_of_a_token_is_400_and_changes_nothing(api, shopper, product, mailoutbox):
    from catalog.models import StockReservation
    from shop.orders.models import OutboxEmail

    cart_fill(shopper, (product, 1))
    body = {**wallet_body(shopper), "payment_method": "card", "card_token": "4242424242424242"}
    response = checkout(api, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "card_token"
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert not StockReservation.objects.exists()
    assert stock_of(product) == (10, 0)
    assert not OutboxEmail.objects.exists()
    assert mailoutbox == []


BIG = 10**30  # more than any 64-bit id column holds


def test_huge_ids_in_checkout_and_returns_are_4xx_with_the_field(api, shopper, product):
    cart_fill(shopper, (product, 1))
    response = checkout(api, {**wallet_body(shopper), "shipping_address": BIG})
    assert response.status_code == 400
    assert response.json()["field"] == "shipping_address"
    assert not Order.objects.exists()
    number = checkout(api, wallet_body(shopper)).json()["number"]
    response = api.post(
        f"/api/v1/orders/{number}/returns/", {"reason": "x", "lines": [{"line": BIG, "quantity": 1}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"].startswith("lines")
    for url in (f"/api/v1/orders/{BIG}/", f"/api/v1/orders/{'9' * 500}/"):
        assert api.get(url).status_code == 404
    assert api.post(f"/api/v1/orders/{BIG}/cancel/").status_code == 404
    browser = Client()
    browser.force_login(shopper)
    cart_fill(shopper, (product, 1))
    page = browser.post("/orders/checkout/", {"address": BIG})
    assert page.status_code == 200
    assert page.context["form"].errors["address"]
    assert browser.get(f"/orders/{BIG}/").status_code == 404


def test_page_and_api_checkout_share_one_limit_per_user(product, checkout_limit_per_day):
    # API first, then the page: the page is already over the limit.
    user = shopper_new()
    client = APIClient()
    client.force_authenticate(user)
    for _ in range(10):
        checkout(client, wallet_body(user))
    browser = Client()
    browser.force_login(user)
    cart_fill(user, (product, 1))
    form = go_to_review(browser, user)
    page = browser.post("/orders/checkout/place/", form)
    assert page.status_code == 429
    assert "Too many checkout attempts" in page.content.decode()
    assert not Order.objects.filter(user=user).exists()

    # The page first, then the API.
    other = shopper_new()
    browser = Client()
    browser.force_login(other)
    cart_fill(other, (product, 1))
    form = go_to_review(browser, other)
    cart_clear(owner=CartOwner(user=other))  # attempts that fail still count
    for _ in range(10):
        browser.post("/orders/checkout/place/", form)
    cart_fill(other, (product, 1))
    client = APIClient()
    client.force_authenticate(other)
    response = checkout(client, wallet_body(other))
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert "checkout" in body["detail"]
    assert int(response["Retry-After"]) > 0
    assert not Order.objects.filter(user=other).exists()
