"""The demo's carriers, zones and methods: real tracking links, standard and express, a free threshold."""

import io

import pytest
from djmoney.money import Money

from shop.shipping import demo
from shop.shipping.models import Carrier, ShippingMethod, ShippingMethodPrice, ShippingZone, WeightBand
from shop.shipping.selectors import shipping_methods_available, tracking_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    demo.load(stdout=io.StringIO())


def test_loading_twice_changes_nothing(loaded):
    counts = (Carrier.objects.count(), ShippingMethod.objects.count(), WeightBand.objects.count())
    demo.load(stdout=io.StringIO())
    assert (Carrier.objects.count(), ShippingMethod.objects.count(), WeightBand.objects.count()) == counts
    assert counts[:2] == (3, 6)


def test_every_demo_row_passes_the_admins_validation(loaded):
    for model in (Carrier, ShippingZone, ShippingMethod, ShippingMethodPrice, WeightBand):
        for row in model.objects.all():
            row.full_clean()


def test_germany_gets_standard_and_express_and_free_standard_from_50_eur(loaded):
    quotes = shipping_methods_available(country="DE", weight_grams=1500, subtotal=Money("20.00", "EUR"))
    assert [(q.name, q.price) for q in quotes] == [
        ("DHL Paket (Germany)", Money("4.99", "EUR")),
        ("DHL Express (Germany)", Money("14.90", "EUR")),
    ]
    free = shipping_methods_available(country="DE", weight_grams=1500, subtotal=Money("50.00", "EUR"))
    assert free[0].name == "DHL Paket (Germany)" and free[0].price == Money(0, "EUR")


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP"])
def test_the_eu_and_the_us_are_served_in_every_shop_currency(loaded, currency):
    for country in ("FR", "US"):
        quotes = shipping_methods_available(
            country=country, weight_grams=3000, subtotal=Money("1.00", currency)
        )
        assert len(quotes) == 2
        assert all(q.price.currency.code == currency and q.price.amount > 0 for q in quotes)
    assert shipping_methods_available(country="JP", weight_grams=3000, subtotal=Money("1.00", currency)) == []


def test_the_carriers_link_to_their_public_tracking_pages(loaded):
    links = {c.code: tracking_url(carrier=c, tracking_number="123") for c in Carrier.objects.all()}
    assert links == {
        "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id=123",
        "ups": "https://www.ups.com/track?loc=en_US&tracknum=123",
        "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels=123",
    }
