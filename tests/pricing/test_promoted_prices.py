"""Catalogue promotions on listings and the product page: the old and the new price, computed for a
page of products at once by the pipeline's own promotion step, so a card shows what the cart charges."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from catalog.services.prices import exchange_rates_load
from shop.pricing.models import Promotion, PromotionAmount
from shop.pricing.pipeline import LineInput
from shop.pricing.selectors import order_price, unit_prices_promoted
from tests.catalog.factories import make_apparel, make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rates(db):
    exchange_rates_load()


def _promotion(*, categories=(), products=(), **kwargs) -> Promotion:
    defaults = {"name": "Winter sale", "kind": "percentage", "percentage": Decimal("20"),
                "starts_at": timezone.now() - timedelta(days=1)}
    promotion = Promotion.objects.create(**(defaults | kwargs))
    promotion.categories.add(*categories)
    promotion.products.add(*products)
    cache.clear()  # what saving it in admin does (a new catalog version)
    return promotion


def _prices(html: str) -> list[tuple[str, str]]:
    """(new, old) of every promoted price on the page."""
    return re.findall(
        r'<span class="price price-new">([^<]+)</span> <span class="price-old"><span class="visually-hidden">[^<]*</span>([^<]+)</span>',
        html,
    )


def test_a_category_promotion_shows_old_and_new_price_on_subcategory_listings_and_the_product_page():
    parent = make_category("Lighting")
    child = make_category("Desk lamps", parent=parent)
    lamp = make_product(category=child, name="Brass lamp", price="50.00")
    make_product(category=make_category("Kitchen"), name="Kettle", price="30.00")
    _promotion(categories=[parent])
    assert _prices(Client().get(child.get_absolute_url()).content.decode()) == [("$40.00", "$50.00")]
    assert _prices(Client().get("/search/?q=lamp").content.decode()) == [("$40.00", "$50.00")]
    home = Client().get("/").content.decode()
    assert ("$40.00", "$50.00") in _prices(home) and "$30.00" in home  # the kettle at its own price
    page = Client().get(lamp.get_absolute_url()).content.decode()
    assert _prices(page)[0] == ("$40.00", "$50.00")


def test_fixed_promotions_apply_in_the_currencies_they_name_and_only_while_running():
    product = make_product(name="Mug", price="10.00")
    fixed = _promotion(products=[product], kind="fixed", percentage=None)
    PromotionAmount.objects.create(promotion=fixed, currency="USD", amount=Decimal("3.00"))
    cache.clear()
    assert _prices(Client().get(product.get_absolute_url()).content.decode()) == [("$7.00", "$10.00")]
    euro = Client()
    euro.post("/currency/", {"currency": "EUR"})
    assert _prices(euro.get(product.get_absolute_url()).content.decode()) == []  # no EUR amount: no promotion
    Promotion.objects.update(ends_at=timezone.now() - timedelta(minutes=1), starts_at=timezone.now() - timedelta(days=2))
    cache.clear()
    assert _prices(Client().get(product.get_absolute_url()).content.decode()) == []


def test_the_card_price_is_what_the_cart_pipeline_charges_for_the_unit():
    category = make_category("Audio")
    products = [make_product(category=category, price=price) for price in ("19.99", "0.05", "333.33")]
    _promotion(categories=[category], percentage=Decimal("12.5"))
    _promotion(products=products[:1], name="Deal", percentage=Decimal("15"))  # the larger one wins, as in the cart
    shown = unit_prices_promoted((Money(p.price.amount, "USD"), p.pk, p.category_id) for p in products)
    priced = order_price(
        currency="USD", country="DE",
        lines=[LineInput(key=str(p.pk), unit_price=Money(p.price.amount, "USD"), quantity=1, product_id=p.pk,
                         category_ids=frozenset([p.category_id])) for p in products],
    )
    assert shown == [line.discounted_unit_price for line in priced.lines]
    assert shown[0] == Money("16.99", "USD")  # 15 % of 19.99 is 3.00 (half up)


def test_variant_picker_data_carries_promoted_prices():
    product, _variants = make_apparel(price="20.00", stock={("M", "Red"): 2})
    _promotion(products=[product], percentage=Decimal("50"))
    html = Client().get(product.get_absolute_url()).content.decode()
    data = re.search(r'<script id="variant-data" type="application/json">(.*?)</script>', html, re.S)
    variants = json.loads(data.group(1))
    assert len(variants) == 6
    assert {(v["price"], v["old_price"]) for v in variants} == {("$10.00", "$20.00")}


def _queries(client, url) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/", "/c/lighting/", "/search/?q=lamp"])
def test_promoted_listings_cost_the_same_queries_for_a_few_or_many_products(url):
    category = make_category("Lighting")
    category.slug = "lighting"
    category.save(update_fields=["slug"])
    _promotion(categories=[category])
    for i in range(2):
        make_product(category=category, name=f"Lamp {i}")
    few = _queries(Client(), url)
    for i in range(2, 14):
        make_product(category=category, name=f"Lamp {i}")
    assert _queries(Client(), url) <= few
    assert len(_prices(Client().get(url).content.decode())) >= 8  # the cards did get their promoted prices


def test_the_wishlist_shows_promoted_prices_too():
    from catalog.engagement.services import wishlist_add
    from tests.catalog.factories import UserFactory

    product = make_product(name="Lamp", price="50.00")
    _promotion(products=[product])
    shopper = UserFactory()
    wishlist_add(user=shopper, product=product)
    client = Client()
    client.force_login(shopper)
    assert _prices(client.get("/wishlist/").content.decode()) == [("$40.00", "$50.00")]
