import io

import pytest
from django.core.management import call_command
from django.test import Client
from djmoney.contrib.exchange.models import Rate

from catalog import demo
from catalog.models import Category, Product, Stock, StockMovement
from tests.catalog.factories import make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(rates):
    root = make_category("Furniture")
    chairs = make_category("Chairs", parent=root)
    make_product(category=chairs, name="Oak Chair", price="80.00", brand="Woody")
    make_product(category=chairs, name="Steel Chair", price="30.00", brand="Metalo", on_hand=0)
    make_product(category=make_category("Lights"), name="Desk Lamp", price="20.00")
    return {"root": root, "chairs": chairs}


def test_category_page_shows_descendants_products_and_facets(shop):
    page = Client().get(shop["root"].get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert "Oak Chair" in html and "Steel Chair" in html and "Desk Lamp" not in html
    assert "Woody (1)" in html and "Metalo (1)" in html


def test_search_page_filters_and_sorts(shop):
    html = Client().get("/search/", {"q": "chair", "ordering": "price", "in_stock": "true"}).content.decode()
    assert "Oak Chair" in html and "Steel Chair" not in html
    html = Client().get("/search/", {"q": "chair", "ordering": "-price"}).content.decode()
    assert html.index("Oak Chair") < html.index("Steel Chair")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"min_price": "-5"}, "min_price"), ({"page": "0"}, "page"), ({"min_rating": "6"}, "min_rating"),
     ({"currency": "XXX"}, "currency")],
)
def test_bad_filters_on_pages_are_a_400_naming_the_field(shop, params, field):
    response = Client().get("/search/", {"q": "chair", **params})
    assert response.status_code == 400
    assert f"<strong>{field}</strong>" in response.content.decode()


def test_unknown_pages_are_404(shop):
    client = Client()
    assert client.get("/c/no-such-category/").status_code == 404
    assert client.get("/p/no-such-product/").status_code == 404
    assert client.get("/search/", {"q": "chair", "page": "99"}).status_code == 404


def test_search_terms_are_escaped_on_the_page(shop):
    html = Client().get("/search/", {"q": "<img src=x onerror=alert(1)>"}).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_demo_data_is_idempotent_with_images_stock_and_rates(monkeypatch, media):
    monkeypatch.setattr(demo, "PRODUCTS_PER_LEAF", 1)
    demo.load(stdout=io.StringIO())
    counts = (Category.objects.count(), Product.objects.count(), StockMovement.objects.count())
    demo.load(stdout=io.StringIO())
    assert (Category.objects.count(), Product.objects.count(), StockMovement.objects.count()) == counts
    assert Category.objects.filter(depth=3).count() == Product.objects.count() == 18
    assert not Product.objects.filter(thumbnail="").exists()
    product = Product.objects.first()
    assert product.images.count() == 3  # the gallery: front, turned and close-up shots
    assert (media / product.images.first().image.name).exists()
    assert Stock.objects.count() == 18
    assert set(Rate.objects.values_list("currency", flat=True)) == {"USD", "EUR", "GBP"}


def test_seed_catalog_creates_products_in_bulk(media):
    call_command("seed_catalog", products=250, stdout=io.StringIO())
    assert Product.objects.filter(sku__startswith="SEED-").count() == 250
    assert Stock.objects.count() == 250
    for stock in Stock.objects.all()[:20]:
        moved = sum(StockMovement.objects.filter(product_id=stock.product_id).values_list("on_hand_delta", flat=True))
        assert moved == stock.on_hand
