"""Loading the rules: tax rates by destination, active promotions, and order_price end to end."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from shop.pricing import demo
from shop.pricing.exceptions import VoucherMinSpend
from shop.pricing.models import Promotion, PromotionAmount, TaxClass, TaxRate
from shop.pricing.pipeline import LineInput
from shop.pricing.selectors import order_price, product_tax_classes, promotions_active, tax_rates_for
from tests.catalog.factories import make_category, make_product
from tests.pricing.factories import make_voucher

pytestmark = pytest.mark.django_db


def test_demo_rates_load_once_and_cover_the_issue_countries():
    demo.load(stdout=io.StringIO())
    demo.load(stdout=io.StringIO())
    assert TaxRate.objects.count() == len(demo.DEMO_RATES)
    assert tax_rates_for(country="de") == {
        "standard": Decimal("19"),
        "reduced": Decimal("7"),
        "zero": Decimal("0"),
    }
    assert tax_rates_for(country="FR")["reduced"] == Decimal("5.5")
    assert tax_rates_for(country="GB")["reduced"] == Decimal("0")
    assert tax_rates_for(country="US", region="CA")["standard"] == Decimal("0")
    assert TaxRate.objects.get(country="US", tax_class="standard").note


def test_a_region_rate_wins_over_the_country_rate():
    TaxRate.objects.create(country="US", tax_class=TaxClass.STANDARD, rate=Decimal("0"))
    TaxRate.objects.create(country="US", region="NY", tax_class=TaxClass.STANDARD, rate=Decimal("4"))
    assert tax_rates_for(country="US", region="ny")["standard"] == Decimal("4")
    assert tax_rates_for(country="US", region="CA")["standard"] == Decimal("0")


def test_product_tax_classes_default_to_standard():
    assert product_tax_classes(product_ids=[1, 2]) == {1: "standard", 2: "standard"}


def _promotion(**kwargs) -> Promotion:
    now = timezone.now()
    defaults = {
        "name": "p",
        "kind": "percentage",
        "percentage": Decimal("10"),
        "starts_at": now - timedelta(days=1),
    }
    return Promotion.objects.create(**(defaults | kwargs))


def test_active_promotions_cover_subcategories_and_skip_others(django_assert_max_num_queries):
    parent = make_category("Lighting")
    child = make_category("Desk lamps", parent=parent)
    product = make_product(category=child)
    running = _promotion(name="running")
    running.categories.add(parent)
    fixed = _promotion(name="fixed", kind="fixed", percentage=None)
    fixed.products.add(product)
    PromotionAmount.objects.create(promotion=fixed, currency="EUR", amount=Decimal("2.00"))
    _promotion(
        name="ended",
        ends_at=timezone.now() - timedelta(hours=1),
        starts_at=timezone.now() - timedelta(days=2),
    )
    _promotion(name="off", is_active=False)
    _promotion(name="later", starts_at=timezone.now() + timedelta(days=1))
    with django_assert_max_num_queries(5):
        rules = {rule.name: rule for rule in promotions_active()}
    assert set(rules) == {"running", "fixed"}
    assert rules["running"].category_ids == {parent.pk, child.pk}
    assert rules["fixed"].product_ids == {product.pk} and rules["fixed"].amounts == {"EUR": Decimal("2.00")}


def test_order_price_applies_rates_promotions_and_voucher_from_the_database(settings):
    settings.PRICES_INCLUDE_TAX = False
    demo.load(stdout=io.StringIO())
    category = make_category()
    _promotion(name="all", percentage=Decimal("50")).categories.add(category)
    make_voucher("TEN", amounts={"EUR": (None, "10.00")})
    make_voucher("BIG", amounts={"EUR": (None, "20.00")})
    line = LineInput(
        key="a", unit_price=Money("30.00", "EUR"), quantity=1, category_ids=frozenset({category.pk})
    )
    order = order_price(
        currency="EUR", lines=[line], country="FR", voucher_code="ten", shipping=Money("5.00", "EUR")
    )
    # 30.00 - 50 % = 15.00; - 10 % voucher = 13.50; + 20 % tax = 16.20; shipping 5.00 + 1.00 tax.
    assert (order.promotion_discount, order.voucher_discount) == (Money("15.00", "EUR"), Money("1.50", "EUR"))
    assert order.voucher_code == "TEN"
    assert order.total == Money("22.20", "EUR")
    with pytest.raises(VoucherMinSpend):  # 15.00 after the promotion is below BIG's 20.00
        order_price(currency="EUR", lines=[line], country="FR", voucher_code="BIG")


def test_order_price_without_voucher_taxes_lines_and_shipping(settings):
    settings.PRICES_INCLUDE_TAX = False
    demo.load(stdout=io.StringIO())
    line = LineInput(key="a", unit_price=Money("30.00", "EUR"), quantity=2, tax_class=TaxClass.REDUCED)
    order = order_price(currency="EUR", lines=[line], country="FR", shipping=Money("5.00", "EUR"))
    assert order.lines[0].tax == Money("3.30", "EUR")
    assert order.shipping_tax == Money("1.00", "EUR")
    assert order.total == Money("69.30", "EUR")


def test_order_price_reads_a_fixed_number_of_queries_whatever_the_lines(django_assert_max_num_queries):
    demo.load(stdout=io.StringIO())
    category = make_category()
    _promotion(name="all").categories.add(category)
    make_voucher("TEN")
    lines = [
        LineInput(
            key=str(i), unit_price=Money("10.00", "EUR"), quantity=1, category_ids=frozenset({category.pk})
        )
        for i in range(30)
    ]
    with django_assert_max_num_queries(8):
        order = order_price(currency="EUR", lines=lines, country="DE", voucher_code="TEN")
    assert len(order.lines) == 30
