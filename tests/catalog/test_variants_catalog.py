"""The catalog speaks variants: detail API, list "from" prices, product page picker, SKU search, demo apparel."""

import io

import pytest
from django.core.management import call_command

from catalog.exceptions import VariantInvalid
from catalog.models import ProductVariant, Stock, Warehouse
from catalog.services.stock import stock_restock
from catalog.services.variants import variant_create
from catalog.services.warehouses import warehouse_set_active
from tests.catalog.factories import make_apparel, make_warehouse

pytestmark = pytest.mark.django_db


def test_detail_api_lists_variants_with_options_price_and_stock(client, rates):
    product, variants = make_apparel(sizes=("M", "L"), colours=("Red",), stock={("M", "Red"): 4})
    ProductVariant.objects.filter(pk=variants[("L", "Red")].pk).update(price="15.00")
    body = client.get(f"/api/v1/products/{product.slug}/").json()
    by_sku = {v["sku"]: v for v in body["variants"]}
    m, big = by_sku[variants[("M", "Red")].sku], by_sku[variants[("L", "Red")].sku]
    assert m["options"] == {"size": "M", "colour": "Red"} and (m["available"], m["in_stock"]) == (4, True)
    assert m["price"]["amount"] == "20.00" and big["price"]["amount"] == "15.00"
    assert (big["available"], big["in_stock"]) == (0, False)
    assert body["price"]["amount"] == body["price_from"]["amount"] == "15.00"  # the lowest
    listed = client.get("/api/v1/products/").json()["results"]
    assert [item["price_from"]["amount"] for item in listed if item["id"] == product.pk] == ["15.00"]


def test_an_inactive_warehouse_does_not_count_as_stock(client, rates, django_capture_on_commit_callbacks):
    product, variants = make_apparel(sizes=("M",), colours=("Red",))
    us = make_warehouse("us", country="US", priority=2)
    stock_restock(variant_id=variants[("M", "Red")].pk, warehouse_id=us.pk, quantity=3, reason="t")
    assert client.get(f"/api/v1/products/{product.slug}/").json()["available"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert warehouse_set_active(warehouse_id=us.pk, is_active=False)
    assert not warehouse_set_active(warehouse_id=us.pk, is_active=False)
    assert client.get(f"/api/v1/products/{product.slug}/").json()["available"] == 0


def test_variant_options_must_be_the_product_types(rates):
    product, variants = make_apparel(sizes=("M",), colours=("Red",))
    bad = [
        ({"size": "XXL", "colour": "Red"}, "options.size"),
        ({"size": "M"}, "options"),
        ({"size": "M", "colour": "Red", "fit": "slim"}, "options"),
        ({"size": "M", "colour": "Red"}, "options"),  # exists already
    ]
    for options, field in bad:
        with pytest.raises(VariantInvalid) as info:
            variant_create(product=product, sku=f"X-{len(options)}-{field}", options=options)
        assert info.value.field == field
    assert ProductVariant.objects.filter(product=product).count() == 1


def test_product_page_has_a_variant_picker_driven_by_a_static_script(client, rates):
    product, variants = make_apparel(stock={("M", "Red"): 2})
    page = client.get(product.get_absolute_url()).content.decode()
    assert 'data-variant-picker' in page and 'name="option-size"' in page and 'name="option-colour"' in page
    assert 'id="variant-data"' in page and "js/variants.js" in page
    assert "<script>" not in page  # no inline script: the data is a JSON block, the code a static file
    assert '<span class="muted">from</span>' in page  # several variants: a "from" price
    listing = client.get(product.category.get_absolute_url()).content.decode()
    assert '<span class="muted">from</span>' in listing
    response = client.post("/cart/add/", {"product": product.pk, "variant": variants[("M", "Red")].pk, "quantity": 1})
    assert response.status_code in (200, 302)
    assert client.session["cart"] == {f"{product.pk}:{variants[('M', 'Red')].pk}": client.session["cart"][
        f"{product.pk}:{variants[('M', 'Red')].pk}"]}


def test_search_finds_a_variant_by_its_sku(client, rates):
    product, variants = make_apparel(stock={("L", "Blue"): 1})
    body = client.get("/api/v1/products/", {"q": variants[("L", "Blue")].sku.lower()}).json()
    assert [item["id"] for item in body["results"]] == [product.pk]


def test_demo_apparel_has_sizes_colours_and_two_warehouses(rates, media):
    out = io.StringIO()
    from catalog import demo_variants

    demo_variants.load(stdout=out)
    demo_variants.load(stdout=out)  # idempotent
    assert set(Warehouse.objects.values_list("country", flat=True)) == {"DE", "US"}
    germany, usa = Warehouse.objects.order_by("priority")
    assert germany.country == "DE" and usa.priority > germany.priority
    assert germany.ships_to == [] and usa.ships_to == []  # every country
    tee = ProductVariant.objects.filter(product__sku="DEMO-TEE")
    assert tee.count() == 12
    assert Stock.objects.filter(variant__product__sku="DEMO-TEE", warehouse=usa, on_hand__gt=0).exists()
    call_command("stock_report", "--sku", tee.first().sku, "--json", stdout=out)


def test_option_facets_count_in_stock_variants_and_attr_filters_on_them(
    client, rates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the facet recounts after the stock commits
        product, variants = make_apparel(stock={("M", "Red"): 2})
        other, _ = make_apparel(category=product.category, stock={("L", "Blue"): 1})
    params = {"category": product.category.slug, "in_stock": "true"}
    facets = client.get("/api/v1/products/", params).json()["facets"]["attributes"]
    sizes = {v["value"]: v["count"] for f in facets if f["name"] == "size" for v in f["values"]}
    assert sizes == {"M": 1, "L": 1}  # S is in nobody's stock
    found = client.get("/api/v1/products/", {**params, "attr": "size:M"}).json()["results"]
    assert [item["id"] for item in found] == [product.pk]
    found = client.get("/api/v1/products/", {"attr": "colour:Blue"}).json()["results"]
    assert sorted(item["id"] for item in found) == sorted([product.pk, other.pk])
