"""Which methods a parcel may ship by, at what price: zones, weight bands, free threshold, currency."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from shop.shipping.exceptions import ShippingMethodUnavailable
from shop.shipping.models import ShippingMethod
from shop.shipping.selectors import (
    shipping_method_quote,
    shipping_methods_available,
    shipping_quote_snapshot,
    tracking_url,
)
from tests.shipping.factories import CarrierFactory, MethodFactory, ZoneFactory, band_add, price_add

pytestmark = pytest.mark.django_db


def eur(amount):
    return Money(Decimal(amount), "EUR")


@pytest.fixture
def germany():
    return ZoneFactory(name="Germany", countries=["DE"])


@pytest.fixture
def eu():
    return ZoneFactory(name="EU", countries=["AT", "FR"])


@pytest.fixture
def by_weight(germany):
    """Bands in EUR: up to 2000 g 4.99, up to 5000 g 6.99; free from 50.00 EUR."""
    method = MethodFactory(name="Parcel", kind=ShippingMethod.Kind.BY_WEIGHT, zones=[germany])
    band_add(method, "EUR", 2000, "4.99")
    band_add(method, "EUR", 5000, "6.99")
    price_add(method, "EUR", free_above="50.00")
    return method


@pytest.fixture
def express(germany, eu):
    method = MethodFactory(name="Express", min_delivery_days=1, max_delivery_days=1, zones=[germany, eu])
    price_add(method, "EUR", price="14.90")
    price_add(method, "USD", price="16.40")
    return method


def names(quotes):
    return [q.name for q in quotes]


def test_only_methods_whose_zones_have_the_country_are_offered(by_weight, express):
    assert names(shipping_methods_available(country="DE", weight_grams=100, subtotal=eur("10"))) == [
        "Parcel",
        "Express",
    ]
    assert names(shipping_methods_available(country="fr", weight_grams=100, subtotal=eur("10"))) == [
        "Express"
    ]
    assert shipping_methods_available(country="US", weight_grams=100, subtotal=eur("10")) == []


@pytest.mark.parametrize(
    ("grams", "price"),
    [(0, "4.99"), (1999, "4.99"), (2000, "4.99"), (2001, "6.99"), (5000, "6.99"), (5001, None)],
)
def test_the_lightest_band_that_holds_the_weight_prices_it(by_weight, grams, price):
    quotes = shipping_methods_available(country="DE", weight_grams=grams, subtotal=eur("10"))
    if price is None:
        assert quotes == []
    else:
        assert [q.price for q in quotes] == [eur(price)]


def test_shipping_is_free_at_and_above_the_threshold_only(by_weight, express):
    def parcel_price(subtotal):
        quotes = shipping_methods_available(country="DE", weight_grams=3000, subtotal=eur(subtotal))
        return next(q for q in quotes if q.name == "Parcel")

    assert parcel_price("49.99").price == eur("6.99") and not parcel_price("49.99").is_free
    assert parcel_price("50.00").price == eur("0") and parcel_price("50.00").is_free
    assert parcel_price("80.00").price == eur("0")
    # A method without a threshold is never free.
    quotes = shipping_methods_available(country="DE", weight_grams=3000, subtotal=eur("1000"))
    assert next(q for q in quotes if q.name == "Express").price == eur("14.90")


def test_prices_are_those_of_the_subtotals_currency(by_weight, express):
    usd = shipping_methods_available(country="DE", weight_grams=100, subtotal=Money("10.00", "USD"))
    # The by-weight method has no USD bands: it is not offered in USD.
    assert [(q.name, q.price) for q in usd] == [("Express", Money("16.40", "USD"))]
    assert shipping_methods_available(country="DE", weight_grams=100, subtotal=Money("10.00", "GBP")) == []


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP"])
def test_each_shop_currency_gets_its_own_price_and_threshold(germany, currency):
    method = MethodFactory(name="Flat", zones=[germany])
    amounts = {"USD": ("5.00", "60.00"), "EUR": ("4.00", "50.00"), "GBP": ("3.00", "40.00")}
    for code, (price, free) in amounts.items():
        price_add(method, code, price=price, free_above=free)
    price, free = amounts[currency]
    below = shipping_methods_available(country="DE", weight_grams=1, subtotal=Money("39.99", currency))
    at = shipping_methods_available(country="DE", weight_grams=1, subtotal=Money(free, currency))
    assert below[0].price == Money(price, currency)
    assert at[0].price == Money(0, currency)


def test_a_currency_the_shop_does_not_sell_in_gets_nothing(express):
    assert shipping_methods_available(country="DE", weight_grams=1, subtotal=Money("10", "JPY")) == []


def test_inactive_methods_and_carriers_are_not_offered(by_weight, express):
    express.is_active = False
    express.save()
    by_weight.carrier.is_active = False
    by_weight.carrier.save()
    assert shipping_methods_available(country="DE", weight_grams=1, subtotal=eur("10")) == []


def test_a_flat_method_without_its_price_in_the_currency_is_not_offered(germany):
    method = MethodFactory(name="Half-configured", zones=[germany])
    price_add(method, "EUR", price=None, free_above="30.00")
    assert shipping_methods_available(country="DE", weight_grams=1, subtotal=eur("10")) == []


def test_quotes_are_cheapest_first_then_fastest(germany):
    for name, price, days in [("B slow", "5.00", 5), ("A fast", "5.00", 2), ("C cheap", "3.00", 9)]:
        method = MethodFactory(name=name, min_delivery_days=1, max_delivery_days=days, zones=[germany])
        price_add(method, "EUR", price=price)
    quotes = shipping_methods_available(country="DE", weight_grams=1, subtotal=eur("10"))
    assert names(quotes) == ["C cheap", "A fast", "B slow"]
    assert (quotes[1].min_delivery_days, quotes[1].max_delivery_days) == (1, 2)


def test_the_selector_reads_in_three_queries_whatever_the_number_of_methods(
    germany, by_weight, django_assert_max_num_queries
):
    for n in range(5):
        method = MethodFactory(zones=[germany], kind=ShippingMethod.Kind.BY_WEIGHT)
        band_add(method, "EUR", 1000 + n, "2.00")
        price_add(method, "EUR", free_above="99.00")
    # Methods with their price row, their zones, then the by-weight methods' bands.
    with django_assert_max_num_queries(3):
        quotes = shipping_methods_available(country="DE", weight_grams=500, subtotal=eur("10"))
    assert len(quotes) == 6


def test_flat_methods_only_read_in_two_queries(germany, django_assert_max_num_queries):
    for _n in range(3):
        method = MethodFactory(zones=[germany], kind=ShippingMethod.Kind.FLAT)
        price_add(method, "EUR", price="4.90")
    with django_assert_max_num_queries(2):
        quotes = shipping_methods_available(country="DE", weight_grams=500, subtotal=eur("10"))
    assert len(quotes) == 3 and all(q.price == eur("4.90") for q in quotes)


@pytest.mark.parametrize("weight", [-1, 1.5, "100", True])
def test_a_weight_that_is_not_whole_grams_is_a_programming_error(express, weight):
    with pytest.raises(ValueError):
        shipping_methods_available(country="DE", weight_grams=weight, subtotal=eur("10"))


def test_a_chosen_method_is_quoted_or_refused_with_the_field(by_weight, express):
    quote = shipping_method_quote(method_id=express.pk, country="AT", weight_grams=1, subtotal=eur("10"))
    assert quote.price == eur("14.90")
    with pytest.raises(ShippingMethodUnavailable) as refused:
        shipping_method_quote(method_id=by_weight.pk, country="AT", weight_grams=1, subtotal=eur("10"))
    assert refused.value.as_dict() == {
        "code": "shipping_method_unavailable",
        "detail": str(refused.value.message),
        "field": "shipping_method",
    }
    with pytest.raises(ShippingMethodUnavailable):  # too heavy for its bands
        shipping_method_quote(method_id=by_weight.pk, country="DE", weight_grams=9000, subtotal=eur("10"))


def test_the_snapshot_is_plain_data_that_later_price_changes_do_not_touch(express):
    quote = shipping_method_quote(method_id=express.pk, country="DE", weight_grams=1, subtotal=eur("10"))
    snapshot = shipping_quote_snapshot(quote)
    express.prices.filter(currency="EUR").update(price=Decimal("99.00"))
    express.name = "Renamed"
    express.save()
    assert snapshot == {
        "method_id": express.pk,
        "name": "Express",
        "carrier": express.carrier.name,
        "carrier_code": express.carrier.code,
        "price": {"amount": "14.90", "currency": "EUR"},
        "delivery_days": {"min": 1, "max": 1},
    }


def test_tracking_urls_put_the_quoted_number_into_the_template():
    carrier = CarrierFactory(
        code="ups", tracking_url_template="https://www.ups.com/track?tracknum={tracking_number}"
    )
    assert tracking_url(carrier=carrier, tracking_number=" 1Z999AA10123456784 ") == (
        "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    assert tracking_url(carrier=carrier, tracking_number="A B&c=1").endswith("tracknum=A%20B%26c%3D1")
