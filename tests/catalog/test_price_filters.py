"""Price filters and price bands agree with the displayed (converted, rounded) price, at every boundary."""

from decimal import Decimal

import pytest
from django.conf import settings
from djmoney.money import Money

from catalog.models import Product
from catalog.selectors.facets import product_facets
from catalog.selectors.filters import ProductQuery, products_filtered
from catalog.selectors.prices import price_converter
from catalog.services.prices import exchange_rates_changed
from tests.catalog.factories import make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(rates):
    """Products at every cent from 9.00 to 9.99 USD, and around each band boundary of EUR and GBP."""
    category = make_category("Things")
    prices = {Decimal("9.00") + Decimal("0.01") * i for i in range(100)}
    for shown in (25, 50, 100, 250):
        for rate in (Decimal("0.92"), Decimal("0.79")):
            centre = (Decimal(shown) / rate).quantize(Decimal("0.01"))
            prices.update(centre + Decimal("0.01") * d for d in range(-3, 4))
    for price in sorted(prices):
        make_product(category=category, price=str(price), on_hand=1)
    return sorted(prices)


def _ids(**kwargs) -> set[int]:
    qs, _ranked = products_filtered(ProductQuery(**kwargs))
    return set(qs.values_list("pk", flat=True))


def _shown(currency: str) -> dict[int, Decimal]:
    convert = price_converter(currency)
    return {p.pk: convert(p.price).amount for p in Product.objects.all()}


@pytest.mark.parametrize("currency", ["EUR", "GBP"])
def test_price_filters_keep_exactly_the_products_displayed_within_the_bounds(priced, currency):
    shown = _shown(currency)
    for bound in sorted(set(shown.values())):
        assert _ids(min_price=bound, currency=currency) == {pk for pk, v in shown.items() if v >= bound}, bound
        assert _ids(max_price=bound, currency=currency) == {pk for pk, v in shown.items() if v <= bound}, bound
        assert _ids(min_price=bound, max_price=bound, currency=currency) == {
            pk for pk, v in shown.items() if v == bound
        }, bound


def test_a_product_shown_as_8_80_eur_is_inside_from_8_80_eur(priced):
    product = Product.objects.get(price=Decimal("9.56"))  # 9.56 * 0.92 = 8.7952 -> 8.80 EUR
    assert price_converter("EUR")(product.price).amount == Decimal("8.80")
    assert product.pk in _ids(min_price=Decimal("8.80"), currency="EUR")
    assert product.pk not in _ids(max_price=Decimal("8.79"), currency="EUR")


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP"])
def test_price_band_counts_match_the_displayed_prices_on_both_counting_paths(priced, currency):
    convert = price_converter(currency)
    shown = [convert(p.price).amount for p in Product.objects.all()]
    expected = [
        sum(1 for v in shown if v >= lo and (hi is None or v < hi))
        for lo, hi in ((0, 25), (25, 50), (50, 100), (100, 250), (250, None))
    ]
    browsing = product_facets(ProductQuery(currency=currency))  # from the FacetCount table
    searching = product_facets(ProductQuery(currency=currency, min_rating=None, min_price=Decimal(0)))  # counted
    assert [b["count"] for b in browsing["price"]] == expected
    assert [b["count"] for b in searching["price"]] == expected


def test_band_counts_follow_an_exchange_rate_change(priced, django_capture_on_commit_callbacks):
    from djmoney.contrib.exchange.models import Rate

    with django_capture_on_commit_callbacks(execute=True):
        Rate.objects.filter(currency="EUR").update(value=Decimal("0.5"))
        exchange_rates_changed()
    convert = price_converter("EUR")
    assert convert(Money("10.00", settings.DEFAULT_CURRENCY)).amount == Decimal("5.00")
    shown = [convert(p.price).amount for p in Product.objects.all()]
    expected_first = sum(1 for v in shown if v < 25)
    assert product_facets(ProductQuery(currency="EUR"))["price"][0]["count"] == expected_first
