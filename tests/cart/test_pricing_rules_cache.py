"""Carts and checkout read the pricing rules from the cache, and see every committed change at once.

The rules are committed inside `django_capture_on_commit_callbacks(execute=True)`,
as a request's transaction would commit them; a write left uncommitted is only
seen by its own transaction.
"""

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from catalog.services.categories import category_move
from shop.cart.pricing import CartItem, cart_price
from shop.pricing.models import ProductTaxClass, Promotion, TaxClass, TaxRate
from shop.pricing.selectors import product_tax_classes, promotions_active, tax_rates_for
from shop.shipping.models import ShippingMethod
from tests.catalog.factories import make_category, make_product
from tests.orders.factories import cart_fill
from tests.orders.test_api import checkout, wallet_body
from tests.shipping.factories import MethodFactory, ZoneFactory, band_add, price_add

pytestmark = pytest.mark.django_db

# The rule reads of a pricing call (a shipment's carrier or a product's category joined elsewhere are not).
RULE_READS = re.compile(
    r'FROM "(pricing_taxrate|pricing_producttaxclass|pricing_promotion|catalog_category|shipping_)'
    r'|JOIN "pricing_promotion'
)


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    """Committed rules: German VAT 19 % / 7 %, 10 % off the Lamps category (the product is in a
    subcategory), an idle 20 % promotion, a flat method at 4.90 EUR and a by-weight one serving Germany."""
    with django_capture_on_commit_callbacks(execute=True):
        lamps = make_category("Lamps")
        desk = make_category("Desk lamps", parent=lamps)
        other = make_category("Garden")
        product = make_product(category=desk)
        TaxRate.objects.create(country="DE", tax_class=TaxClass.STANDARD, rate=Decimal("19"))
        TaxRate.objects.create(country="DE", tax_class=TaxClass.REDUCED, rate=Decimal("7"))
        now = timezone.now()
        lamps_sale = Promotion.objects.create(
            name="lamps", kind="percentage", percentage=Decimal("10"), starts_at=now - timedelta(days=1)
        )
        lamps_sale.categories.add(lamps)
        idle = Promotion.objects.create(
            name="idle", kind="percentage", percentage=Decimal("20"), starts_at=now - timedelta(days=1)
        )
        germany = ZoneFactory(countries=["DE"])
        flat = MethodFactory(name="Flat", zones=[germany])
        flat_price = price_add(flat, "EUR", price="4.90")
        parcel = MethodFactory(name="Parcel", zones=[germany], kind=ShippingMethod.Kind.BY_WEIGHT)
        band = band_add(parcel, "EUR", 2000, "6.50")
        price_add(parcel, "EUR")
    return SimpleNamespace(
        product=product, lamps=lamps, desk=desk, other=other, lamps_sale=lamps_sale, idle=idle,
        germany=germany, flat=flat, flat_price=flat_price, parcel=parcel, band=band,
    )


def price(world, *, method=None):
    item = CartItem(
        key="1", product=world.product, unit_price=Money("10.00", "EUR"), quantity=2, weight_grams=500
    )
    return cart_price(
        currency="EUR", items=[item], country="DE", shipping_method=method or world.flat.pk,
        prices_include_tax=True,
    )


def test_a_cart_priced_with_warm_rules_runs_no_query(world, django_assert_num_queries):
    cold = price(world)
    with django_assert_num_queries(0):
        warm = price(world)
    assert warm == cold
    assert warm.priced.promotion_discount == Money("2.00", "EUR")
    assert [q.name for q in warm.quotes] == ["Flat", "Parcel"] and warm.quote.price == Money("4.90", "EUR")


def test_the_cached_rules_price_exactly_as_the_database(world):
    from_database = price(world)
    from_cache = price(world)
    cache.clear()
    assert price(world) == from_cache == from_database


def _tax_rate_saved(world, admin_client):
    row = TaxRate.objects.get(country="DE", tax_class=TaxClass.STANDARD)
    row.rate = Decimal("16")
    row.save()


def _tax_rate_changed_in_admin(world, admin_client):
    row = TaxRate.objects.get(country="DE", tax_class=TaxClass.STANDARD)
    response = admin_client.post(
        reverse("admin:pricing_taxrate_change", args=[row.pk]),
        {"country": "DE", "region": "", "tax_class": "standard", "rate": "21", "note": ""},
    )
    assert response.status_code == 302, response.content


def _product_tax_class_set(world, admin_client):
    ProductTaxClass.objects.create(product=world.product, tax_class=TaxClass.REDUCED)


def _promotion_created(world, admin_client):
    promotion = Promotion.objects.create(
        name="new", kind="percentage", percentage=Decimal("50"), starts_at=timezone.now() - timedelta(minutes=1)
    )
    promotion.products.add(world.product)


def _promotion_ended(world, admin_client):
    world.lamps_sale.ends_at = timezone.now()
    world.lamps_sale.save()


def _promotion_product_added(world, admin_client):
    world.idle.products.add(world.product)


def _promotion_category_added(world, admin_client):
    world.idle.categories.add(world.desk)


def _promotions_deleted_in_admin(world, admin_client):
    response = admin_client.post(
        reverse("admin:pricing_promotion_changelist"),
        {"action": "delete_selected", "_selected_action": [world.lamps_sale.pk], "post": "yes"},
    )
    assert response.status_code == 302, response.content


def _category_moved(world, admin_client):
    # treebeard rewrites the paths in SQL: no signal, the service invalidates.
    category_move(category=world.desk, target=world.other, pos="sorted-child")


def _shipping_price_changed(world, admin_client):
    world.flat_price.price = Decimal("5.90")
    world.flat_price.save()


def _zone_country_changed(world, admin_client):
    world.germany.countries = ["AT"]
    world.germany.save()


def _method_zone_removed(world, admin_client):
    world.parcel.zones.remove(world.germany)


def _band_changed(world, admin_client):
    world.band.max_weight_grams = 400
    world.band.save()


def _carrier_deactivated(world, admin_client):
    world.flat.carrier.is_active = False
    world.flat.carrier.save()


WRITES = [
    _tax_rate_saved, _tax_rate_changed_in_admin, _product_tax_class_set, _promotion_created, _promotion_ended,
    _promotion_product_added, _promotion_category_added, _promotions_deleted_in_admin, _category_moved,
    _shipping_price_changed, _zone_country_changed, _method_zone_removed, _band_changed, _carrier_deactivated,
]


@pytest.mark.parametrize("write", WRITES, ids=[write.__name__.strip("_") for write in WRITES])
def test_the_next_pricing_after_a_commit_sees_the_change(world, write, admin_client, django_capture_on_commit_callbacks):
    before = price(world)
    price(world)  # warm
    with django_capture_on_commit_callbacks(execute=True):
        write(world, admin_client)
    after = price(world)
    assert after != before
    cache.clear()
    assert price(world) == after


def test_a_promotion_starts_applying_when_its_time_comes_with_warm_rules(
    world, monkeypatch, django_capture_on_commit_callbacks, django_assert_num_queries
):
    start = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        later = Promotion.objects.create(
            name="later", kind="percentage", percentage=Decimal("50"),
            starts_at=start, ends_at=start + timedelta(hours=1),
        )
        later.products.add(world.product)
    assert price(world).priced.promotion_discount == Money("2.00", "EUR")  # the best promotion wins
    for moment, discount in [
        (start - timedelta(microseconds=1), "2.00"), (start, "10.00"), (start + timedelta(hours=1), "2.00")
    ]:
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        with django_assert_num_queries(0):
            assert price(world).priced.promotion_discount == Money(discount, "EUR")


def test_a_transaction_sees_its_own_uncommitted_change_and_a_rollback_leaves_the_cache_as_it_was(
    world, django_assert_num_queries
):
    before = price(world)
    with pytest.raises(RuntimeError), transaction.atomic():
        TaxRate.objects.filter(country="DE", tax_class=TaxClass.STANDARD).update(rate=Decimal("5"))
        world.flat_price.price = Decimal("1.00")
        world.flat_price.save()  # the save marks the transaction: its rules come from the database
        inside = price(world)
        assert inside.quote.price == Money("1.00", "EUR") and inside.priced.tax_total != before.priced.tax_total
        raise RuntimeError("roll back")
    with django_assert_num_queries(0):
        assert price(world) == before


def test_a_wallet_checkout_with_warm_rules_reads_no_rule(api, shopper, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product = make_product(price="1.00")
        body = wallet_body(shopper)
    cart_fill(shopper, (product, 1))
    assert checkout(api, body).status_code == 201  # warms the rules
    cart_fill(shopper, (product, 1))
    body = wallet_body(shopper)
    with CaptureQueriesContext(connection) as queries:
        response = checkout(api, body)
    assert response.status_code == 201, response.content
    read = [q["sql"] for q in queries if RULE_READS.search(q["sql"])]
    assert read == []


def test_promotions_asked_for_a_moment_before_the_cached_load_are_read_as_of_that_moment(
    world, django_capture_on_commit_callbacks
):
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        Promotion.objects.create(
            name="ended", kind="percentage", percentage=Decimal("5"),
            starts_at=now - timedelta(days=2), ends_at=now - timedelta(hours=1),
        )
    assert {rule.name for rule in promotions_active()} == {"lamps", "idle"}  # cached as of now
    assert {rule.name for rule in promotions_active(now=now - timedelta(hours=2))} == {"lamps", "idle", "ended"}


def test_tax_rates_and_classes_alone_come_from_the_cache(world, django_assert_num_queries):
    assert tax_rates_for(country="de") == {"standard": Decimal("19"), "reduced": Decimal("7")}
    assert product_tax_classes(product_ids=[world.product.pk]) == {world.product.pk: "standard"}
    with django_assert_num_queries(0):
        assert tax_rates_for(country="DE")["standard"] == Decimal("19")
        assert product_tax_classes(product_ids=[world.product.pk]) == {world.product.pk: "standard"}
