import pytest
from django.core.cache import cache
from django.test import Client
from djmoney.contrib.exchange.models import Rate

from catalog.selectors.categories import category_tree
from catalog.services.products import product_update
from catalog.services.recommendations import bought_together_compute, product_purchase_record
from catalog.services.stock import stock_adjust, stock_restock
from tests.catalog.factories import UserFactory, make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_products(rates):
    root = make_category("Root")
    leaf = make_category("Leaf", parent=root)
    products = [make_product(category=leaf, name=f"Lamp {i}", price=f"{10 + i}.00") for i in range(60)]
    buyer = UserFactory()
    product_purchase_record(user=buyer, lines=[(p.pk, 1) for p in products[:5]], reference="O-1")
    bought_together_compute()
    return {"root": root, "products": products}


def _count_queries(django_assert_max_num_queries, path, params, limit):
    client = Client()
    client.get(path, {**params, "page_size": 1})  # warm the cached category tree, rates and attribute names
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(path, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "params",
    [{}, {"search": "lamp"}, {"category": "root-1", "in_stock": "true", "ordering": "-price", "min_price": "5"}],
)
def test_product_list_queries_do_not_grow_with_page_size(
    many_products, django_assert_max_num_queries, params, settings
):
    settings.CATALOG_FACETS_CACHE_SECONDS = 0  # measure the uncached path every time
    params = dict(params)
    if "category" in params:
        params["category"] = many_products["root"].slug
    # At most 9: a search adds the one-row SKU lookup and the variant option counts.
    small = _count_queries(django_assert_max_num_queries, "/api/v1/products/", {**params, "page_size": 5}, 9)
    large = _count_queries(django_assert_max_num_queries, "/api/v1/products/", {**params, "page_size": 50}, 9)
    assert small == large


def test_search_page_queries_do_not_grow_with_page_size(many_products, django_assert_max_num_queries, settings):
    settings.CATALOG_FACETS_CACHE_SECONDS = 0
    small = _count_queries(django_assert_max_num_queries, "/search/", {"q": "lamp", "page_size": 5}, 10)
    large = _count_queries(django_assert_max_num_queries, "/search/", {"q": "lamp", "page_size": 50}, 10)
    assert small == large


def test_paging_reuses_the_cached_facets(many_products, django_assert_num_queries):
    client = Client()
    first = client.get("/api/v1/products/", {"search": "lamp", "page_size": 5}).json()
    with django_assert_num_queries(3):  # the page, its stock, and the one-row SKU lookup of the search word
        second = client.get("/api/v1/products/", {"search": "lamp", "page_size": 5, "page": 2}).json()
    assert second["count"] == first["count"] == 60
    assert second["facets"] == first["facets"]
    assert {p["id"] for p in first["results"]}.isdisjoint({p["id"] for p in second["results"]})


def test_product_detail_is_a_small_fixed_number_of_queries(many_products, django_assert_max_num_queries):
    product = many_products["products"][0]
    with django_assert_max_num_queries(6):
        response = Client().get(f"/api/v1/products/{product.slug}/")
    assert response.status_code == 200 and len(response.json()["bought_together"]) == 4
    cache.clear()
    # The page also shows similar products, the rating distribution, the category menu and the
    # variant picker (the product's variants with their options and stock), and the running
    # promotions' rules for the promoted prices and the delivery estimate's shipping methods
    # (one query each with none; both cached for a while).
    with django_assert_max_num_queries(12):
        assert Client().get(product.get_absolute_url()).status_code == 200


def test_anonymous_product_page_is_cached_until_the_product_changes(
    many_products, django_assert_num_queries, django_capture_on_commit_callbacks
):
    product = many_products["products"][0]
    client = Client()
    assert b"$10.00" in client.get(product.get_absolute_url()).content
    with django_assert_num_queries(0):
        assert b"$10.00" in client.get(product.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=product, price="12.50")
    assert b"$12.50" in client.get(product.get_absolute_url()).content


def test_cached_product_page_follows_stock_changes(many_products, django_capture_on_commit_callbacks):
    product = many_products["products"][1]
    client = Client()
    assert b"In stock" in client.get(product.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(product_id=product.pk, delta=-10, reason="stocktake")
    assert b"Out of stock" in client.get(product.get_absolute_url()).content


def test_category_tree_is_cached_and_invalidated(
    many_products, django_assert_num_queries, django_capture_on_commit_callbacks
):
    category_tree()
    with django_assert_num_queries(0):
        category_tree()
    with django_capture_on_commit_callbacks(execute=True):
        make_category("Brand New")
    assert "Brand New" in {node["name"] for node in category_tree()}


def test_edited_exchange_rate_takes_effect_at_once(many_products, admin_client, django_capture_on_commit_callbacks):
    product = many_products["products"][0]
    assert Client().get(f"/api/v1/products/{product.slug}/?currency=EUR").json()["price"]["amount"] == "9.20"
    rate = Rate.objects.get(currency="EUR")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/exchange/rate/{rate.pk}/change/", {"currency": "EUR", "value": "0.5"})
    assert response.status_code == 302
    assert Client().get(f"/api/v1/products/{product.slug}/?currency=EUR").json()["price"]["amount"] == "5.00"


def test_shopper_currency_choice_is_used_by_pages_and_api(many_products):
    product = many_products["products"][0]
    client = Client()
    client.post("/currency/", {"currency": "GBP", "next": "/"})
    assert "£7.90".encode() in client.get(product.get_absolute_url()).content
    assert client.get(f"/api/v1/products/{product.slug}/").json()["price"] == {"amount": "7.90", "currency": "GBP"}


def test_cached_product_page_gives_each_visitor_a_working_csrf_token(many_products):
    import re

    product = many_products["products"][2]
    Client().get(product.get_absolute_url())  # fills the cache
    visitor = Client(enforce_csrf_checks=True)
    html = visitor.get(product.get_absolute_url()).content.decode()
    assert 'action="/cart/add/"' in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = visitor.post("/currency/", {"currency": "EUR", "next": "/", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def _catalog_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "catalog_" in q["sql"]]


def test_listing_api_is_served_from_the_cache_until_stock_changes(
    many_products, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    product = many_products["products"][0]
    client = Client()
    params = {"search": "lamp", "ordering": "price", "page_size": 5}
    first = client.get("/api/v1/products/", params).json()
    assert first["results"][0]["id"] == product.pk and first["results"][0]["available"] == 10
    # The same question, parameters in another order: not one catalog query.
    with CaptureQueriesContext(connection) as captured:
        again = client.get("/api/v1/products/?page_size=5&ordering=price&search=lamp").json()
    assert again == first
    assert _catalog_queries(captured) == []
    # Another currency is another answer.
    assert client.get("/api/v1/products/", {**params, "currency": "EUR"}).json()["currency"] == "EUR"
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(product_id=product.pk, quantity=5, reason="delivery")
    fresh = client.get("/api/v1/products/", params).json()
    assert fresh["results"][0]["available"] == 15


def test_listing_page_fragment_is_cached_per_language_and_refreshed_by_catalog_changes(
    many_products, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    english = client.get("/search/", {"q": "lamp", "ordering": "price"})
    assert english.status_code == 200 and b"In stock" in english.content
    with CaptureQueriesContext(connection) as captured:
        again = client.get("/search/", {"q": "lamp", "ordering": "price"})
    assert again.content.count(b"product-card") == english.content.count(b"product-card") > 0
    assert _catalog_queries(captured) == []
    german = client.get("/search/", {"q": "lamp", "ordering": "price"}, HTTP_ACCEPT_LANGUAGE="de")
    assert b"Auf Lager" in german.content
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=many_products["products"][0], name="Renamed Lamp")
    assert b"Renamed Lamp" in client.get("/search/", {"q": "lamp", "ordering": "price"}).content


def test_invalid_listing_input_is_refused_every_time_and_never_cached(many_products):
    client = Client()
    for _ in range(2):
        response = client.get("/api/v1/products/", {"min_price": "5", "max_price": "1"})
        assert response.status_code == 400 and response.json()["field"] == "max_price"
        page = client.get("/search/", {"q": "lamp", "min_rating": "9"})
        assert page.status_code == 400 and b"min_rating" in page.content
