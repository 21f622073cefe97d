"""The stored "from" price that price filters and facets read follows every write of a price."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog.models import Product, ProductVariant
from catalog.services.price_from import product_price_from_refresh
from catalog.services.products import product_update
from catalog.services.variants import variant_create
from tests.catalog.factories import make_apparel, make_product

pytestmark = pytest.mark.django_db


def stored(product) -> Decimal:
    return Product.objects.values_list("price_from_base", flat=True).get(pk=product.pk)


def test_a_product_without_options_starts_at_its_price():
    assert stored(make_product(price="12.50")) == Decimal("12.50")


def test_a_cheaper_variant_lowers_it_and_its_removal_raises_it_again():
    product, variants = make_apparel(price="60.00", sizes=("M", "L"), colours=("Red",))
    assert stored(product) == Decimal("60.00")  # every variant inherits the product's price
    cheap = variants[("M", "Red")]
    cheap.price = Money("20.00", "USD")
    cheap.save()  # the admin's inline saves through the model
    assert stored(product) == Decimal("20.00")
    cheap.delete()
    assert stored(product) == Decimal("60.00")


def test_a_variant_made_by_the_service_with_its_own_price_counts():
    product = make_product(price="60.00")
    variant_create(product=product, sku=f"{product.sku}-CHEAP", price="45.00")
    assert stored(product) == Decimal("45.00")


def test_the_product_price_moves_it_while_a_variant_inherits_it():
    product, variants = make_apparel(price="60.00", sizes=("M", "L"), colours=("Red",))
    own = variants[("L", "Red")]
    own.price = Money("50.00", "USD")
    own.save()
    product_update(product=product, price=Decimal("40.00"))
    assert stored(product) == Decimal("40.00")  # M inherits 40, below L's own 50
    product_update(product=product, price=Decimal("70.00"))
    assert stored(product) == Decimal("50.00")  # now L's own price is the lowest


def test_refresh_repairs_a_bulk_write_that_sent_no_signal():
    product, variants = make_apparel(price="60.00", sizes=("M",), colours=("Red",))
    ProductVariant.objects.filter(pk=variants[("M", "Red")].pk).update(price=Decimal("5.00"))
    assert stored(product) == Decimal("60.00")  # a queryset update bypasses the receivers
    assert product_price_from_refresh(product_ids=[product.pk]) == 1
    assert stored(product) == Decimal("5.00")
