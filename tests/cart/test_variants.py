"""Carts and orders speak variants: choosing one, refusing a wrong one, allocations kept and given back."""

import uuid

import pytest
from django.db.models import Sum

from catalog.models import Stock, StockMovement
from catalog.services.stock import stock_release, stock_restock
from shop.cart.models import CartLine
from shop.orders.models import Order, OrderLineAllocation
from shop.orders.services.transitions import order_cancel
from tests.catalog.factories import make_apparel, make_warehouse
from tests.orders.factories import make_product
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


def _add(api, body):
    return api.post("/api/v1/cart/lines/", body, format="json")


def _checkout(api, shopper, method="wallet"):
    body = {"payment_method": method, "shipping_method": shipping_method_everywhere(), "shipping_address": shopper.addresses.first().pk}
    if method == "card":
        body["card_token"] = "tok_visa"
    return api.post("/api/v1/orders/", body, format="json", headers={"Idempotency-Key": str(uuid.uuid4())})


def test_a_variant_goes_into_the_cart_with_its_sku_and_options(api, rates):
    product, variants = make_apparel(stock={("M", "Red"): 3})
    response = _add(api, {"variant": variants[("M", "Red")].pk, "quantity": 2})
    assert response.status_code == 201, response.json()
    [line] = response.json()["lines"]
    assert (line["variant"], line["sku"], line["options"]) == (
        variants[("M", "Red")].pk, variants[("M", "Red")].sku, {"size": "M", "colour": "Red"}
    )
    assert line["available"] == 3 and line["product"] == product.pk


def test_bad_variant_choices_are_field_errors_that_change_nothing(api, rates):
    product, variants = make_apparel(stock={("M", "Red"): 3})
    other = make_product(on_hand=5)
    cases = [
        ({"product": product.pk, "quantity": 1}, "variant_required", "variant"),
        ({"product": other.pk, "variant": variants[("M", "Red")].pk, "quantity": 1}, "variant_invalid", "variant"),
        ({"variant": variants[("M", "Red")].pk, "quantity": -1}, "invalid", "quantity"),
        ({"variant": variants[("S", "Blue")].pk, "quantity": 1}, "out_of_stock", None),
    ]
    for body, code, field in cases:
        response = _add(api, body)
        assert response.status_code in (400, 409), response.json()
        assert response.json()["code"] == code, response.json()
        if field:
            assert response.json().get("field") == field or field in response.json().get("errors", {})
    assert not CartLine.objects.exists()
    # A single-variant product still takes {product, quantity}.
    assert _add(api, {"product": other.pk, "quantity": 1}).status_code == 201


def test_checkout_allocates_over_warehouses_and_cancel_gives_back_exactly_that(api, shopper, rates):
    product, variants = make_apparel(sizes=("M",), colours=("Red",), price="5.00")
    variant = variants[("M", "Red")]
    us = make_warehouse("us", country="US", priority=9)
    stock_restock(variant_id=variant.pk, quantity=2, reason="t")
    stock_restock(variant_id=variant.pk, warehouse_id=us.pk, quantity=3, reason="t")
    assert _add(api, {"variant": variant.pk, "quantity": 4}).status_code == 201
    response = _checkout(api, shopper, method="card")
    assert response.status_code in (201, 202), response.json()
    order = Order.objects.get(number=response.json()["number"])
    detail = api.get(f"/api/v1/orders/{order.number}/").json()
    [line] = detail["lines"]
    assert (line["variant"], line["sku"], line["options"]) == (variant.pk, variant.sku, {"size": "M", "colour": "Red"})
    assert sorted((a["warehouse"], a["quantity"]) for a in line["allocations"]) == [("main", 2), ("us", 2)]
    if order.status == Order.Status.PENDING_PAYMENT:
        order_cancel(order_id=order.pk, check_payment=False)
        assert stock_release(reference=order.number) == 0  # given back once
        levels = dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "reserved"))
        assert levels == {"main": 0, "us": 0}
    moved = StockMovement.objects.filter(variant=variant).aggregate(n=Sum("on_hand_delta"))["n"]
    assert moved == sum(Stock.objects.filter(variant=variant).values_list("on_hand", flat=True))
    assert OrderLineAllocation.objects.filter(line__order=order).aggregate(n=Sum("quantity"))["n"] == 4


def test_out_of_stock_checkout_names_the_short_lines_and_offers_alternatives(api, shopper, rates):
    product, variants = make_apparel(stock={("M", "Red"): 1, ("L", "Red"): 5, ("S", "Blue"): 2})
    assert _add(api, {"variant": variants[("M", "Red")].pk, "quantity": 1}).status_code == 201
    CartLine.objects.update(quantity=3)  # the stock went down since it was added
    response = _checkout(api, shopper)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "out_of_stock"
    assert body["lines"] == [{"variant": variants[("M", "Red")].pk, "requested": 3, "available": 1}]
    alternatives = [a["variant"] for a in body["alternatives"]]
    assert alternatives == [variants[("S", "Blue")].pk, variants[("L", "Red")].pk]  # in the product's order
    assert not Order.objects.exists() and CartLine.objects.get().quantity == 3


def test_take_what_is_available_lowers_short_lines_in_one_click(client, rates):
    product, variants = make_apparel(stock={("M", "Red"): 2, ("S", "Red"): 1})
    for key, quantity in ((("M", "Red"), 2), (("S", "Red"), 1)):
        assert client.post("/cart/add/", {"product": product.pk, "variant": variants[key].pk,
                                          "quantity": quantity}).status_code in (200, 302)
    stock_restock(variant_id=variants[("M", "Red")].pk, quantity=1, reason="t")
    from catalog.services.stock import stock_adjust

    stock_adjust(variant_id=variants[("M", "Red")].pk, delta=-2, reason="broken")
    stock_adjust(variant_id=variants[("S", "Red")].pk, delta=-1, reason="broken")
    page = client.get("/cart/").content.decode()
    assert "Take what is available" in page
    client.post("/cart/fit/")
    lines = client.session["cart"]
    assert list(lines.values())[0]["quantity"] == 1 and len(lines) == 1
    assert "Take what is available" not in client.get("/cart/").content.decode()


def test_a_refund_restocks_the_warehouses_the_units_came_from(api, shopper, rates):
    from shop.orders.services.transitions import order_refund

    product, variants = make_apparel(sizes=("M",), colours=("Red",), price="5.00")
    variant = variants[("M", "Red")]
    us = make_warehouse("us", country="US", priority=9)
    stock_restock(variant_id=variant.pk, quantity=1, reason="t")
    stock_restock(variant_id=variant.pk, warehouse_id=us.pk, quantity=2, reason="t")
    assert _add(api, {"variant": variant.pk, "quantity": 3}).status_code == 201
    response = _checkout(api, shopper)  # wallet: paid at once; no warehouse has 3, so 1 from main and 2 from us
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    assert dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "on_hand")) == {"main": 0, "us": 0}
    order_refund(order_id=order.pk, reason="changed mind")
    assert dict(Stock.objects.filter(variant=variant).values_list("warehouse__code", "on_hand")) == {"main": 1, "us": 2}
    order_refund_again = Order.objects.get(pk=order.pk)
    assert order_refund_again.status == Order.Status.REFUNDED
    moved = StockMovement.objects.filter(variant=variant).aggregate(n=Sum("on_hand_delta"))["n"]
    assert moved == 3


def test_a_product_named_alone_is_refused_when_unknown_inactive_or_without_a_variant(api, rates):
    """{product} alone: unknown or inactive is product_unavailable, no variant at all is variant_required."""
    inactive = make_product(is_active=False)
    bare = make_product(on_hand=0)
    bare.variants.all().delete()
    cases = [
        (inactive.pk, "product_unavailable", "product"),
        (10**9, "product_unavailable", "product"),
        (bare.pk, "variant_required", "variant"),
    ]
    for product_id, code, field in cases:
        response = _add(api, {"product": product_id, "quantity": 1})
        assert response.status_code == 400, response.json()
        assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert not CartLine.objects.exists()
