import pytest
from django.test import Client

from catalog.services.products import product_set_active
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create
from tests.catalog.factories import UserFactory, make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog_data(rates):
    root = make_category("Electronics")
    audio = make_category("Audio", parent=root)
    phones = make_category("Phones", parent=root)
    garden = make_category("Garden")
    products = {
        "headphones": make_product(
            category=audio, name="Wireless Headphones", price="99.00", brand="Sonic",
            description="Noise cancelling over-ear headphones", attributes={"colour": "black"},
        ),
        "speaker": make_product(
            category=audio, name="Bluetooth Speaker", price="45.50", brand="Sonic", on_hand=0,
            attributes={"colour": "red"},
        ),
        "phone": make_product(category=phones, name="Smart Phone X", price="599.00", brand="Phonix"),
        "hose": make_product(category=garden, name="Garden Hose", price="19.99", brand="Greeny"),
    }
    return {"root": root, "audio": audio, "phones": phones, "garden": garden, **products}


def get(path, **params):
    return Client().get(path, params)


def test_categories_are_a_tree(catalog_data):
    body = get("/api/v1/categories/").json()
    names = {node["name"]: node for node in body}
    assert set(names) == {"Electronics", "Garden"}
    assert {c["name"] for c in names["Electronics"]["children"]} == {"Audio", "Phones"}


def test_product_list_filters_by_category_with_descendants(catalog_data):
    body = get("/api/v1/products/", category=catalog_data["root"].slug).json()
    assert body["count"] == 3
    assert {p["name"] for p in body["results"]} == {"Wireless Headphones", "Bluetooth Speaker", "Smart Phone X"}


def test_product_list_prices_in_the_requested_currency(catalog_data):
    body = get("/api/v1/products/", currency="EUR", ordering="price").json()
    assert body["currency"] == "EUR"
    assert body["results"][0]["price"] == {"amount": "18.39", "currency": "EUR"}  # 19.99 * 0.92 = 18.3908
    gbp = get(f"/api/v1/products/{catalog_data['speaker'].slug}/", currency="GBP").json()
    assert gbp["price"] == {"amount": "35.95", "currency": "GBP"}  # 45.50 * 0.79 = 35.945 -> half up


def test_price_filter_bounds_are_in_the_chosen_currency(catalog_data):
    # 99 USD = 91.08 EUR; 45.50 USD = 41.86 EUR
    body = get("/api/v1/products/", currency="EUR", min_price="41.86", max_price="91.08").json()
    assert {p["name"] for p in body["results"]} == {"Wireless Headphones", "Bluetooth Speaker"}
    body = get("/api/v1/products/", currency="EUR", min_price="41.87", max_price="91.07").json()
    assert body["results"] == []


def test_filters_in_stock_attributes_rating_and_brand(catalog_data):
    names = lambda body: {p["name"] for p in body["results"]}  # noqa: E731
    assert "Bluetooth Speaker" not in names(get("/api/v1/products/", in_stock="true").json())
    assert names(get("/api/v1/products/", in_stock="false").json()) == {"Bluetooth Speaker"}
    assert names(get("/api/v1/products/", attr="colour:red").json()) == {"Bluetooth Speaker"}
    assert names(get("/api/v1/products/", brand="Sonic").json()) == {"Wireless Headphones", "Bluetooth Speaker"}
    buyer = UserFactory()
    product_purchase_record(user=buyer, lines=[(catalog_data["hose"].pk, 1)], reference="O-1")
    review_create(user=buyer, product=catalog_data["hose"], rating=4)
    assert names(get("/api/v1/products/", min_rating="4").json()) == {"Garden Hose"}


@pytest.mark.parametrize(
    ("ordering", "first"),
    [("price", "Garden Hose"), ("-price", "Smart Phone X"), ("name", "Bluetooth Speaker"), ("-created", "Garden Hose")],
)
def test_sorting(catalog_data, ordering, first):
    assert get("/api/v1/products/", ordering=ordering).json()["results"][0]["name"] == first


def test_facets_count_categories_brands_price_bands_and_stock(catalog_data):
    facets = get("/api/v1/products/").json()["facets"]
    assert {b["name"]: b["count"] for b in facets["brands"]} == {"Sonic": 2, "Phonix": 1, "Greeny": 1}
    assert {c["name"]: c["count"] for c in facets["categories"]} == {"Audio": 2, "Phones": 1, "Garden": 1}
    assert facets["in_stock"] == {"in_stock": 3, "out_of_stock": 1}
    assert [b["count"] for b in facets["price"]] == [1, 1, 1, 0, 1]


def test_search_finds_by_name_brand_and_description(catalog_data):
    assert [p["name"] for p in get("/api/v1/products/", search="headphones").json()["results"]] == [
        "Wireless Headphones"
    ]
    assert {p["name"] for p in get("/api/v1/products/", search="sonic").json()["results"]} == {
        "Wireless Headphones",
        "Bluetooth Speaker",
    }
    assert get("/api/v1/products/", search="cancelling").json()["count"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "abc"}, "max_price"),
        ({"currency": "XYZ"}, "currency"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"rating": "6"}, "rating"),
        ({"min_rating": "0"}, "min_rating"),
        ({"ordering": "drop table"}, "ordering"),
        ({"category": "no-such-category"}, "category"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"attr": "colour"}, "attr"),
        ({"min_price": "10", "max_price": "5"}, "max_price"),
        ({"search": "x" * 500}, "search"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(catalog_data, params, field):
    response = get("/api/v1/products/", **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["field"] == field


@pytest.mark.parametrize(
    "term", ["'; DROP TABLE catalog_product; --", "<script>alert(1)</script>", '" OR 1=1 --', "%_\\", "-", "-zzz", "!!!", "a & | b"]
)
def test_sql_and_html_in_search_terms_are_just_text(catalog_data, term):
    response = get("/api/v1/products/", search=term)
    assert response.status_code == 200
    if any(ch.isalpha() for ch in term) and not term.startswith("-"):
        assert response.json()["count"] == 0
    page = Client().get("/search/", {"q": term})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.content.decode()
    assert get("/api/v1/products/autocomplete/", q=term).status_code == 200
    assert get("/api/v1/products/").json()["count"] == 4


def test_page_beyond_the_last_is_404(catalog_data):
    assert get("/api/v1/products/", page="2").status_code == 404
    body = get("/api/v1/products/", page_size="3").json()
    assert body["count"] == 4 and len(body["results"]) == 3 and "page=2" in body["next"]
    assert len(get("/api/v1/products/", page_size="3", page="2").json()["results"]) == 1


def test_product_detail_has_stock_rating_and_images(catalog_data):
    body = get(f"/api/v1/products/{catalog_data['headphones'].slug}/").json()
    assert body["sku"] == catalog_data["headphones"].sku
    assert body["available"] == 10 and body["in_stock"] is True
    assert body["rating"] == {"average": "0.00", "count": 0}
    assert body["attributes"] == {"colour": "black"}
    assert get("/api/v1/products/no-such-product/").status_code == 404


def test_inactive_products_are_hidden(catalog_data):
    product_set_active(product_ids=[catalog_data["phone"].pk], is_active=False)
    assert get(f"/api/v1/products/{catalog_data['phone'].slug}/").status_code == 404
    assert get("/api/v1/products/").json()["count"] == 3


def test_autocomplete_suggests_names(catalog_data):
    body = get("/api/v1/products/autocomplete/", q="head").json()
    assert [r["name"] for r in body["results"]] == ["Wireless Headphones"]
    assert get("/api/v1/products/autocomplete/", q="").json()["results"] == []
