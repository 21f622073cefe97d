from decimal import Decimal

import pytest
from django.test import Client

from catalog.exceptions import AlreadyReviewed, InvalidRating, NotABuyer
from catalog.models import BoughtTogether, Product
from catalog.selectors.recommendations import products_bought_together, products_recommended_for
from catalog.services.recommendations import bought_together_compute, product_purchase_record
from catalog.services.reviews import review_create
from catalog.tasks import compute_bought_together
from tests.catalog.factories import UserFactory, make_category, make_product

pytestmark = pytest.mark.django_db


def _buy(user, products, reference):
    product_purchase_record(user=user, lines=[(p.pk, 1) for p in products], reference=reference)


def test_only_buyers_review_and_only_once():
    product = make_product()
    buyer, stranger = UserFactory(), UserFactory()
    with pytest.raises(NotABuyer):
        review_create(user=stranger, product=product, rating=5)
    _buy(buyer, [product], "O-1")
    review_create(user=buyer, product=product, rating=4, body="Good")
    with pytest.raises(AlreadyReviewed):
        review_create(user=buyer, product=product, rating=1)
    assert product.reviews.count() == 1


@pytest.mark.parametrize("rating", [0, 6, -1, True, "5"])
def test_rating_must_be_one_to_five(rating):
    product = make_product()
    buyer = UserFactory()
    _buy(buyer, [product], "O-2")
    with pytest.raises(InvalidRating):
        review_create(user=buyer, product=product, rating=rating)


def test_rating_average_and_count_are_kept_on_the_product():
    product = make_product()
    for i, rating in enumerate([5, 4, 4]):
        user = UserFactory()
        _buy(user, [product], f"O-{i}")
        review_create(user=user, product=product, rating=rating)
    product.refresh_from_db()
    assert (product.rating_avg, product.rating_count) == (Decimal("4.33"), 3)


def test_review_api_posts_for_buyers_and_validates(rates):
    product = make_product()
    buyer, stranger = UserFactory(), UserFactory()
    _buy(buyer, [product], "O-9")
    url = f"/api/v1/products/{product.slug}/reviews/"
    anon = Client()
    assert anon.post(url, {"rating": 5}, content_type="application/json").status_code in (401, 403)
    client = Client()
    client.force_login(stranger)
    response = client.post(url, {"rating": 5}, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "not_a_buyer"
    client.force_login(buyer)
    response = client.post(url, {"rating": 6}, content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "rating"
    response = client.post(url, {"rating": 5, "body": "<b>great</b>"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["rating"] == 5
    assert client.post(url, {"rating": 3}, content_type="application/json").status_code == 409
    listing = anon.get(url).json()
    assert listing["count"] == 1 and listing["results"][0]["body"] == "<b>great</b>"
    detail = anon.get(f"/api/v1/products/{product.slug}/").json()
    assert detail["rating"] == {"average": "5.00", "count": 1}


def test_review_page_form_for_buyers(rates):
    product = make_product()
    buyer = UserFactory()
    _buy(buyer, [product], "O-7")
    client = Client()
    client.force_login(buyer)
    page = client.get(product.get_absolute_url())
    assert b"Write a review" in page.content
    response = client.post(product.get_absolute_url(), {"rating": "4", "title": "Nice", "body": "ok"})
    assert response.status_code == 302
    assert product.reviews.get().rating == 4
    page = client.get(product.get_absolute_url())
    assert b"Write a review" not in page.content and b"Nice" in page.content
    assert b"You have reviewed this product already" in page.content  # told why, not just no form
    stranger = Client()
    stranger.force_login(UserFactory())
    assert b"Only shoppers who bought this product can review it" in stranger.get(product.get_absolute_url()).content
    stranger.post(product.get_absolute_url(), {"rating": "5"})
    assert product.reviews.count() == 1


def test_bought_together_counts_orders_sharing_products():
    a, b, c, d = (make_product() for _ in range(4))
    u1, u2 = UserFactory(), UserFactory()
    _buy(u1, [a, b, c], "O-1")
    _buy(u2, [a, b], "O-2")
    _buy(u2, [d], "O-3")
    assert compute_bought_together.apply(throw=True).result == 6
    assert BoughtTogether.objects.get(product=a, other=b).count == 2
    assert [p.pk for p in products_bought_together(product=a)] == [b.pk, c.pk]
    assert products_bought_together(product=d) == []
    # Safe to run again: same table.
    assert bought_together_compute() == 6


def test_recommended_for_you_comes_from_the_categories_of_purchases():
    shoes, books = make_category("Shoes"), make_category("Books")
    bought = make_product(category=shoes)
    other_shoe = make_product(category=shoes)
    make_product(category=books)
    user = UserFactory()
    _buy(user, [bought], "O-1")
    recommended = products_recommended_for(user=user)
    assert [p.pk for p in recommended] == [other_shoe.pk]
    newcomer = UserFactory()
    assert len(products_recommended_for(user=newcomer)) == Product.objects.count()


def test_home_shows_new_and_recommended(rates):
    product = make_product(name="Shiny Kettle")
    page = Client().get("/")
    assert page.status_code == 200
    assert b"Shiny Kettle" in page.content and b"New arrivals" in page.content
    detail = Client().get(product.get_absolute_url())
    assert detail.status_code == 200 and b"Shiny Kettle" in detail.content


def _recommended_section(html: str) -> str:
    start = html.index("Recommended for you")
    return html[start : html.index("</section>", start)]


def test_home_and_product_pages_recommend_from_the_shoppers_purchases(rates):
    kitchen, garden = make_category("Kitchen"), make_category("Garden")
    kettle = make_product(category=kitchen, name="Shiny Kettle")
    toaster = make_product(category=kitchen, name="Red Toaster")
    make_product(category=garden, name="Green Hose")
    shopper = UserFactory()
    _buy(shopper, [kettle], "O-1")
    client = Client()
    client.force_login(shopper)
    for path in ("/", kettle.get_absolute_url()):
        section = _recommended_section(client.get(path).content.decode())
        assert "Red Toaster" in section and "Green Hose" not in section and "Shiny Kettle" not in section, path
    # Personal, so never in the page cached for anonymous visitors.
    Client().get(toaster.get_absolute_url())
    assert "Recommended for you" not in Client().get(toaster.get_absolute_url()).content.decode()


def test_recommended_api_is_personal_for_buyers(rates):
    shoes, books = make_category("Shoes"), make_category("Books")
    bought, other_shoe = make_product(category=shoes), make_product(category=shoes)
    make_product(category=books)
    user = UserFactory()
    _buy(user, [bought], "O-1")
    client = Client()
    assert len(client.get("/api/v1/products/recommended/").json()["results"]) == 3
    client.force_login(user)
    body = client.get("/api/v1/products/recommended/", {"currency": "EUR"}).json()
    assert [r["id"] for r in body["results"]] == [other_shoe.pk]
    assert body["results"][0]["price"]["currency"] == "EUR"
