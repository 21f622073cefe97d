"""Demo data: DHL, UPS and USPS; zones Germany, EU and US; standard and express methods with a free threshold.

Idempotent: rows are found by their natural keys (carrier code, zone name,
method name) and brought back to the values below.
"""

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from shop.shipping.models import Carrier, ShippingMethod, ShippingMethodPrice, ShippingZone, WeightBand

# fmt: off
CARRIERS = [
    ("dhl", "DHL", "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id={tracking_number}"),
    ("ups", "UPS", "https://www.ups.com/track?loc=en_US&tracknum={tracking_number}"),
    ("usps", "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}"),
]
EU_WITHOUT_DE = ["AT", "BE", "CZ", "DK", "ES", "FI", "FR", "IE", "IT", "LU", "NL", "PL", "PT", "SE"]
ZONES = [("Germany", ["DE"]), ("EU", EU_WITHOUT_DE), ("US", ["US"])]

D = Decimal
# name: (carrier, zones, kind, (min, max) days, {currency: flat price or [(max grams, price), ...]}, {currency: free above})
METHODS = {
    "DHL Paket (Germany)": (
        "dhl", ["Germany"], ShippingMethod.Kind.BY_WEIGHT, (1, 3),
        {
            "EUR": [(2000, D("4.99")), (5000, D("6.99")), (31500, D("10.49"))],
            "USD": [(2000, D("5.49")), (5000, D("7.69")), (31500, D("11.49"))],
            "GBP": [(2000, D("4.29")), (5000, D("5.99")), (31500, D("8.99"))],
        },
        {"EUR": D("50.00"), "USD": D("55.00"), "GBP": D("45.00")},
    ),
    "DHL Express (Germany)": (
        "dhl", ["Germany"], ShippingMethod.Kind.FLAT, (1, 1),
        {"EUR": D("14.90"), "USD": D("16.40"), "GBP": D("12.90")}, {},
    ),
    "DHL Standard (EU)": (
        "dhl", ["EU"], ShippingMethod.Kind.BY_WEIGHT, (3, 6),
        {
            "EUR": [(2000, D("9.99")), (5000, D("14.99")), (31500, D("24.99"))],
            "USD": [(2000, D("10.99")), (5000, D("16.49")), (31500, D("27.49"))],
            "GBP": [(2000, D("8.59")), (5000, D("12.89")), (31500, D("21.49"))],
        },
        {"EUR": D("100.00"), "USD": D("110.00"), "GBP": D("90.00")},
    ),
    "UPS Express Saver (EU)": (
        "ups", ["EU"], ShippingMethod.Kind.FLAT, (1, 2),
        {"EUR": D("29.90"), "USD": D("32.90"), "GBP": D("25.90")}, {},
    ),
    "USPS Ground Advantage (US)": (
        "usps", ["US"], ShippingMethod.Kind.BY_WEIGHT, (2, 5),
        {
            "USD": [(1000, D("5.99")), (5000, D("9.99")), (20000, D("19.99"))],
            "EUR": [(1000, D("5.49")), (5000, D("9.19")), (20000, D("18.39"))],
            "GBP": [(1000, D("4.69")), (5000, D("7.89")), (20000, D("15.79"))],
        },
        {"USD": D("75.00"), "EUR": D("70.00"), "GBP": D("60.00")},
    ),
    "UPS Next Day Air (US)": (
        "ups", ["US"], ShippingMethod.Kind.FLAT, (1, 1),
        {"USD": D("29.99"), "EUR": D("27.59"), "GBP": D("23.69")}, {},
    ),
}
# fmt: on


def _method_load(name: str, spec, carriers: dict, zones: dict) -> None:
    code, zone_names, kind, (low, high), prices, free = spec
    method, _created = ShippingMethod.objects.update_or_create(
        name=name,
        defaults={
            "carrier": carriers[code],
            "kind": kind,
            "min_delivery_days": low,
            "max_delivery_days": high,
        },
    )
    method.zones.set([zones[z] for z in zone_names])
    currencies = [c for c in prices if c in settings.CURRENCIES]
    method.prices.exclude(currency__in=currencies).delete()
    method.weight_bands.exclude(currency__in=currencies).delete()
    for currency in currencies:
        flat = prices[currency] if kind == ShippingMethod.Kind.FLAT else None
        ShippingMethodPrice.objects.update_or_create(
            method=method, currency=currency, defaults={"price": flat, "free_above": free.get(currency)}
        )
        if kind == ShippingMethod.Kind.BY_WEIGHT:
            bounds = [grams for grams, _price in prices[currency]]
            method.weight_bands.filter(currency=currency).exclude(max_weight_grams__in=bounds).delete()
            for grams, price in prices[currency]:
                WeightBand.objects.update_or_create(
                    method=method, currency=currency, max_weight_grams=grams, defaults={"price": price}
                )


def load(*, stdout) -> None:
    """Carriers, zones and methods of the demo shop; safe to run twice."""
    with transaction.atomic():
        carriers = {}
        for code, name, template in CARRIERS:
            carriers[code], _created = Carrier.objects.update_or_create(
                code=code, defaults={"name": name, "tracking_url_template": template}
            )
        zones = {}
        for name, countries in ZONES:
            zones[name], _created = ShippingZone.objects.update_or_create(
                name=name, defaults={"countries": sorted(countries)}
            )
        for name, spec in METHODS.items():
            _method_load(name, spec, carriers, zones)
    stdout.write(f"   {len(CARRIERS)} carriers, {len(ZONES)} zones, {len(METHODS)} shipping methods\n")
