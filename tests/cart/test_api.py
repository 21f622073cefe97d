import pytest
from rest_framework.test import APIClient

from shop.cart.models import CartLine
from tests.orders.factories import UserFactory, cart_fill, make_product

pytestmark = pytest.mark.django_db


def test_cart_api_needs_a_signed_in_user(product):
    response = APIClient().get("/api/v1/cart/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_add_change_and_remove_lines(api, product):
    response = api.post("/api/v1/cart/lines/", {"product": product.id, "quantity": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["item_count"] == 2
    line = body["lines"][0]
    assert line["product"] == product.id
    assert line["unit_price"] == {"amount": "10.00", "currency": "USD"}
    assert body["subtotal"] == {"amount": "20.00", "currency": "USD"}

    response = api.patch(f"/api/v1/cart/lines/{line['id']}/", {"quantity": 5}, format="json")
    assert response.status_code == 200
    assert response.json()["lines"][0]["quantity"] == 5

    response = api.delete(f"/api/v1/cart/lines/{line['id']}/")
    assert response.status_code == 204
    assert api.get("/api/v1/cart/").json()["lines"] == []


@pytest.mark.parametrize("quantity", [0, -1, 100, 10**12, 2.5, "2.5", "two", True, None])
def test_bad_quantity_is_400_with_the_field_and_changes_nothing(api, product, quantity):
    response = api.post("/api/v1/cart/lines/", {"product": product.id, "quantity": quantity}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "quantity"
    assert not CartLine.objects.exists()


def test_inactive_product_is_400_on_the_product_field(api):
    inactive = make_product(is_active=False)
    response = api.post("/api/v1/cart/lines/", {"product": inactive.id, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "product"
    assert not CartLine.objects.exists()


def test_more_than_the_stock_is_409_out_of_stock(api):
    product = make_product(on_hand=2)
    response = api.post("/api/v1/cart/lines/", {"product": product.id, "quantity": 3}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
    assert response.json()["available"] == 2


def test_someone_elses_line_is_404(api, product):
    stranger = UserFactory()
    cart_fill(stranger, (product, 1))
    line = CartLine.objects.get()
    assert api.patch(f"/api/v1/cart/lines/{line.id}/", {"quantity": 2}, format="json").status_code == 404
    assert api.delete(f"/api/v1/cart/lines/{line.id}/").status_code == 404
    line.refresh_from_db()
    assert line.quantity == 1


def test_cart_in_another_currency(api, product, rates):
    cart_fill(api.handler._force_user, (product, 1))
    body = api.get("/api/v1/cart/?currency=EUR").json()
    assert body["currency"] == "EUR"
    assert body["subtotal"]["currency"] == "EUR"


def test_query_counts_do_not_grow_with_the_lines(api, shopper, django_assert_max_num_queries, rates):
    products = [make_product() for _ in range(12)]
    cart_fill(shopper, (products[0], 1))
    api.get("/api/v1/cart/?currency=EUR")  # warm the exchange-rate cache
    # The lines with the voucher, gift-card flag and default address (one query), products, variants; rules: cached.
    with django_assert_max_num_queries(7) as small:
        api.get("/api/v1/cart/?currency=EUR")
    cart_fill(shopper, *[(p, 1) for p in products[1:]])
    with django_assert_max_num_queries(7) as large:
        api.get("/api/v1/cart/?currency=EUR")
    assert len(large.captured_queries) == len(small.captured_queries)
    extra = make_product()
    with django_assert_max_num_queries(15):
        response = api.post("/api/v1/cart/lines/", {"product": extra.id, "quantity": 1}, format="json")
    assert response.status_code == 201


def test_huge_ids_are_400_or_404_not_500(api, product):
    big = 10**30
    response = api.post("/api/v1/cart/lines/", {"product": big, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "product"
    assert api.patch(f"/api/v1/cart/lines/{big}/", {"quantity": 2}, format="json").status_code == 404
    assert api.delete(f"/api/v1/cart/lines/{big}/").status_code == 404
    assert not CartLine.objects.exists()
