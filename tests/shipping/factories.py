"""Factories for shipping tests: carriers, zones, methods, their prices and weight bands."""

from decimal import Decimal

import factory

from shop.shipping.models import Carrier, ShippingMethod, ShippingMethodPrice, ShippingZone, WeightBand


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"carrier{n}")
    name = factory.LazyAttribute(lambda o: o.code.upper())
    tracking_url_template = "https://track.example.com/?n={tracking_number}"


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShippingZone

    name = factory.Sequence(lambda n: f"Zone {n}")
    countries = factory.LazyFunction(lambda: ["DE"])


class MethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShippingMethod
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Method {n}")
    carrier = factory.SubFactory(CarrierFactory)
    kind = ShippingMethod.Kind.FLAT
    min_delivery_days = 1
    max_delivery_days = 3

    @factory.post_generation
    def zones(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.zones.set(extracted)


def price_add(method, currency, price=None, free_above=None):
    return ShippingMethodPrice.objects.create(
        method=method,
        currency=currency,
        price=None if price is None else Decimal(price),
        free_above=None if free_above is None else Decimal(free_above),
    )


def band_add(method, currency, max_weight_grams, price):
    return WeightBand.objects.create(
        method=method, currency=currency, max_weight_grams=max_weight_grams, price=Decimal(price)
    )


TEST_CARRIER_CODE = "testpost"


def shipping_method_everywhere() -> int:
    """The id of a free flat-rate method serving every country the shop ships to, in every shop currency.

    Every test that places an order chooses it, so totals stay what the lines cost (free shipping,
    prices entered gross). Get-or-create in one transaction, safe when threads or worker processes
    race to make it: the loser's unique insert fails and it reads the winner's.
    """
    from django.conf import settings
    from django.db import IntegrityError, transaction

    from accounts.countries import COUNTRY_CODES

    for _attempt in range(5):
        method = ShippingMethod.objects.filter(carrier__code=TEST_CARRIER_CODE).first()
        if method is not None:
            return method.pk
        try:
            with transaction.atomic():
                carrier = Carrier.objects.create(
                    code=TEST_CARRIER_CODE, name="Test Post",
                    tracking_url_template="https://track.example.com/?n={tracking_number}",
                )
                zone = ShippingZone.objects.create(name="Everywhere (tests)", countries=sorted(COUNTRY_CODES))
                method = MethodFactory(name="Test delivery", carrier=carrier, zones=[zone])
                for currency in settings.CURRENCIES:
                    price_add(method, currency, price="0.00")
            return method.pk
        except IntegrityError:
            continue
    raise AssertionError("the test shipping method could not be made")
