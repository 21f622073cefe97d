import pytest
from django.test import Client

from shop.cart.models import Cart, CartLine
from tests.accounts.factories import PASSWORD
from tests.orders.factories import UserFactory, cart_fill, make_product
from tests.pricing.factories import make_voucher

pytestmark = pytest.mark.django_db


def test_guest_adds_to_cart_without_javascript(product):
    client = Client()
    response = client.post("/cart/add/", {"product": product.id, "quantity": 2, "next": f"/p/{product.slug}/"})
    assert response.status_code == 302
    assert response["Location"] == f"/p/{product.slug}/"
    page = client.get("/cart/")
    assert page.status_code == 200
    assert product.name in page.content.decode()
    assert client.session["cart"][str(product.id)]["quantity"] == 2


def test_add_refuses_unsafe_redirects(product):
    response = Client().post("/cart/add/", {"product": product.id, "quantity": 1, "next": "https://evil.example/"})
    assert response["Location"] == "/cart/"


def test_with_javascript_the_cart_updates_in_place(product):
    client = Client()
    client.post("/cart/add/", {"product": product.id, "quantity": 1})
    response = client.post(f"/cart/lines/{product.id}/", {"quantity": 4}, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] and body["item_count"] == 4
    assert "40.00" in body["html"]
    response = client.post(f"/cart/lines/{product.id}/", {"quantity": 50}, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 409
    assert response.json()["ok"] is False
    response = client.post(f"/cart/lines/{product.id}/", {"quantity": 0}, headers={"X-Requested-With": "fetch"})
    assert response.json()["item_count"] == 0


def test_bad_quantity_on_the_page_shows_an_error_and_changes_nothing(product):
    client = Client()
    response = client.post("/cart/add/", {"product": product.id, "quantity": "0"}, follow=True)
    assert response.status_code == 200
    assert "cart" not in client.session
    assert list(response.context["messages"])


def test_signed_in_cart_is_persistent_and_shows_warnings(product):
    from catalog.services.stock import stock_adjust

    user = UserFactory()
    cart_fill(user, (product, 5))
    stock_adjust(product_id=product.id, delta=-7, reason="count")
    client = Client()
    client.force_login(user)
    page = client.get("/cart/").content.decode()
    assert "only 3 left" in page
    assert "/orders/checkout/" not in page  # cannot check out until fixed


def test_login_merges_the_guest_cart_and_says_so(product):
    user = UserFactory()
    cart_fill(user, (product, 8))
    client = Client()
    client.post("/cart/add/", {"product": product.id, "quantity": 5})
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert CartLine.objects.get(cart__user=user).quantity == 10  # 8 + 5 capped at the stock
    messages = [str(m) for m in response.context["messages"]]
    assert any("most available" in m for m in messages)


def test_a_guest_applies_a_voucher_and_signing_in_keeps_it(product):
    make_voucher("WELCOME10", percentage="10")
    user = UserFactory()
    client = Client()
    client.post("/cart/add/", {"product": product.id, "quantity": 1})
    client.post("/cart/voucher/", {"code": "nope"})
    assert "cart_voucher" not in client.session  # a bad code changes nothing
    client.post("/cart/voucher/", {"code": "welcome10"})
    assert client.session["cart_voucher"] == "WELCOME10"
    assert "Voucher WELCOME10 applied." in client.get("/cart/").content.decode()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert Cart.objects.get(user=user).voucher_code == "WELCOME10"
    assert "cart_voucher" not in client.session


def test_remove_line_page(product):
    client = Client()
    client.post("/cart/add/", {"product": product.id, "quantity": 1})
    client.post(f"/cart/lines/{product.id}/remove/")
    assert client.session["cart"] == {}


def test_cart_page_query_count_is_constant(django_assert_max_num_queries):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    products = [make_product() for _ in range(10)]
    cart_fill(user, (products[0], 1))
    client.get("/cart/")  # warm the exchange-rate cache
    with django_assert_max_num_queries(8) as small:
        client.get("/cart/")
    cart_fill(user, *[(p, 1) for p in products[1:]])
    with django_assert_max_num_queries(8) as large:
        client.get("/cart/")
    assert len(large.captured_queries) == len(small.captured_queries)


BIG = 10**30  # more than any 64-bit id column holds


@pytest.mark.parametrize("signed_in", [False, True], ids=["guest", "signed-in"])
def test_huge_product_ids_on_the_cart_pages_are_refused_not_500(product, signed_in):
    client = Client()
    if signed_in:
        client.force_login(UserFactory())
    client.post("/cart/add/", {"product": product.id, "quantity": 1})
    fetch = {"X-Requested-With": "fetch"}
    added = client.post("/cart/add/", {"product": BIG, "quantity": 1}, headers=fetch)
    assert added.status_code == 400
    assert added.json()["ok"] is False
    changed = client.post(f"/cart/lines/{BIG}/", {"quantity": 2}, headers=fetch)
    assert changed.status_code == 400
    assert client.post(f"/cart/lines/{BIG}/remove/").status_code == 302
    page = client.post("/cart/add/", {"product": BIG, "quantity": 1}, follow=True)
    assert page.status_code == 200
    assert any("not available" in str(m) for m in page.context["messages"])
    cart = client.get("/cart/").context["cart"]
    assert [(line.product_id, line.quantity) for line in cart.lines] == [(product.id, 1)]


def test_the_header_shows_the_cart_item_count_on_every_page(product):
    client = Client()
    assert 'data-cart-count>0<' in client.get("/cart/").content.decode()
    client.post("/cart/add/", {"product": product.id, "quantity": 3})
    assert 'data-cart-count>3<' in client.get(f"/p/{product.slug}/").content.decode()
    user = UserFactory()
    cart_fill(user, (product, 2), (make_product(), 4))
    client.force_login(user)
    assert 'data-cart-count>6<' in client.get("/").content.decode()


def test_the_header_count_costs_one_query_whatever_the_lines(django_assert_max_num_queries):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    products = [make_product() for _ in range(8)]
    cart_fill(user, (products[0], 1))
    client.get("/account/")  # warm caches
    with django_assert_max_num_queries(30) as small:
        client.get("/account/")
    cart_fill(user, *[(p, 1) for p in products[1:]])
    with django_assert_max_num_queries(30) as large:
        response = client.get("/account/")
    assert 'data-cart-count>8<' in response.content.decode()
    assert len(large.captured_queries) == len(small.captured_queries)


def test_adding_from_the_product_page_with_javascript_answers_the_count(product):
    client = Client()
    response = client.post(
        "/cart/add/", {"product": product.id, "quantity": 2}, headers={"X-Requested-With": "fetch"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {"ok": True, "message": "Added to your cart.", "item_count": 2}
    refused = client.post(
        "/cart/add/", {"product": product.id, "quantity": 50}, headers={"X-Requested-With": "fetch"}
    )
    assert refused.status_code == 409
    assert refused.json()["ok"] is False and refused.json()["item_count"] == 2
