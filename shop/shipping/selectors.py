"""Reads: which methods serve a country, a parcel's weight and a subtotal, at what price; tracking links."""

from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from djmoney.money import Money

from shop.core.money import money_to_dict
from shop.shipping.exceptions import CarrierNotFound, ShippingMethodUnavailable
from shop.shipping.models import (
    TRACKING_PLACEHOLDER,
    Carrier,
    ShippingMethod,
    ShippingMethodPrice,
    WeightBand,
)


@dataclass(frozen=True)
class ShippingQuote:
    """One method offered for a parcel: what it costs (zero when free above the threshold) and how long it takes."""

    method_id: int
    name: str
    carrier: str
    carrier_code: str
    price: Money
    min_delivery_days: int
    max_delivery_days: int
    is_free: bool = False


def _methods_priced_in(currency: str, *, method_id: int | None = None) -> QuerySet[ShippingMethod]:
    """Active methods of active carriers with their zones, and this currency's price row as annotations
    (`price_row`: whether it has one, `flat_price`, `free_above`); `method_id`: only that one. Two queries."""
    row = ShippingMethodPrice.objects.filter(method=OuterRef("pk"), currency=currency)
    methods = (
        ShippingMethod.objects.filter(is_active=True, carrier__is_active=True)
        .select_related("carrier")
        .prefetch_related("zones")
        .annotate(
            price_row=Exists(row),
            flat_price=Subquery(row.values("price")[:1]),
            free_above=Subquery(row.values("free_above")[:1]),
        )
    )
    return methods if method_id is None else methods.filter(pk=method_id)


def _bands_attach(methods: list[ShippingMethod], currency: str) -> None:
    """Each by-weight method's bands in `currency`, lightest first, as `method.bands` (one query, or none
    when no by-weight method is among them)."""
    by_weight = {m.pk: m for m in methods if m.kind == ShippingMethod.Kind.BY_WEIGHT}
    for method in methods:
        method.bands = []
    if not by_weight:
        return
    for band in WeightBand.objects.filter(method_id__in=list(by_weight), currency=currency).order_by(
        "max_weight_grams", "id"
    ):
        by_weight[band.method_id].bands.append(band)


def _method_price(method: ShippingMethod, *, weight_grams: int, currency: str) -> Money | None:
    """The method's price for the weight before any free threshold; None when it has none for it."""
    if method.kind == ShippingMethod.Kind.BY_WEIGHT:
        # Bands are upper bounds: the lightest band that holds the parcel prices it.
        band = next((b for b in method.bands if weight_grams <= b.max_weight_grams), None)
        return None if band is None else Money(band.price, currency)
    return None if not method.price_row or method.flat_price is None else Money(method.flat_price, currency)


def _serves(method: ShippingMethod, country: str) -> bool:
    return any(country in zone.countries for zone in method.zones.all())


def _method_quote(
    method: ShippingMethod, *, country: str, weight_grams: int, subtotal: Money
) -> ShippingQuote | None:
    if not _serves(method, country):
        return None
    currency = subtotal.currency.code
    price = _method_price(method, weight_grams=weight_grams, currency=currency)
    if price is None:
        return None
    is_free = method.price_row and method.free_above is not None and subtotal.amount >= method.free_above
    return ShippingQuote(
        method_id=method.pk,
        name=method.name,
        carrier=method.carrier.name,
        carrier_code=method.carrier.code,
        price=Money(0, currency) if is_free else price,
        min_delivery_days=method.min_delivery_days,
        max_delivery_days=method.max_delivery_days,
        is_free=is_free,
    )


def _check_parcel(weight_grams: int) -> None:
    if isinstance(weight_grams, bool) or not isinstance(weight_grams, int) or weight_grams < 0:
        raise ValueError(f"weight_grams must be a whole number of grams from 0, not {weight_grams!r}")


def shipping_methods_available(*, country: str, weight_grams: int, subtotal: Money) -> list[ShippingQuote]:
    """Methods that serve `country` and hold `weight_grams`, priced in the subtotal's currency, cheapest first.

    A method is left out when none of its zones has the country, when it has no
    price in the currency, or (by weight) when no band holds the weight. Shipping
    is free when the subtotal is at or above the method's threshold in the
    currency. Two queries (three with by-weight methods), whatever the number of methods.
    """
    return _quotes(country=country, weight_grams=weight_grams, subtotal=subtotal)


def _quotes(*, country: str, weight_grams: int, subtotal: Money, method_id: int | None = None) -> list[ShippingQuote]:
    _check_parcel(weight_grams)
    country = (country or "").strip().upper()
    currency = subtotal.currency.code
    if currency not in settings.CURRENCIES or not country:
        return []
    methods = [m for m in _methods_priced_in(currency, method_id=method_id) if _serves(m, country)]
    _bands_attach(methods, currency)
    quotes = [
        quote
        for method in methods
        if (quote := _method_quote(method, country=country, weight_grams=weight_grams, subtotal=subtotal))
    ]
    return sorted(quotes, key=lambda q: (q.price.amount, q.max_delivery_days, q.name, q.method_id))


def shipping_method_quote(
    *, method_id: int, country: str, weight_grams: int, subtotal: Money
) -> ShippingQuote:
    """The quote of one chosen method (two queries); ShippingMethodUnavailable (field shipping_method) when it
    does not serve."""
    for quote_ in _quotes(country=country, weight_grams=weight_grams, subtotal=subtotal, method_id=method_id):
        if quote_.method_id == method_id:
            return quote_
    raise ShippingMethodUnavailable(field="shipping_method")


def shipping_quote_snapshot(quote_: ShippingQuote) -> dict:
    """The chosen method as plain JSON-ready data for an order to keep (later changes never touch it)."""
    return {
        "method_id": quote_.method_id,
        "name": quote_.name,
        "carrier": quote_.carrier,
        "carrier_code": quote_.carrier_code,
        "price": money_to_dict(quote_.price),
        "delivery_days": {"min": quote_.min_delivery_days, "max": quote_.max_delivery_days},
    }


def carrier_get_active(*, code: str) -> Carrier:
    """The active carrier with this code; CarrierNotFound (404) otherwise."""
    carrier = Carrier.objects.filter(code=code, is_active=True).first()
    if carrier is None:
        raise CarrierNotFound()
    return carrier


def tracking_url(*, carrier: Carrier, tracking_number: str) -> str:
    """The carrier's public tracking link for a parcel (the number URL-quoted into the template)."""
    return carrier.tracking_url_template.replace(
        TRACKING_PLACEHOLDER, quote(tracking_number.strip(), safe="")
    )


@dataclass(frozen=True)
class DeliveryEstimate:
    """How long delivery to a country takes: by the cheapest method, and by a faster one when there is one."""

    country: str
    min_days: int
    max_days: int
    fast_min_days: int | None = None
    fast_max_days: int | None = None


# Estimates are the same for every product page in a country and currency: cached this long.
DELIVERY_ESTIMATE_TTL = 300


def delivery_estimate(*, country: str, currency: str) -> DeliveryEstimate | None:
    """The delivery days of the cheapest method serving `country` for a light parcel (None: no method serves it).

    Two or three queries (shipping_methods_available), or none from the cache.
    """
    country = (country or "").strip().upper()
    key = f"shipping:delivery-estimate:{country}:{currency}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    quotes = shipping_methods_available(country=country, weight_grams=0, subtotal=Money(0, currency))
    estimate = None
    if quotes:
        cheapest = quotes[0]
        fastest = min(quotes, key=lambda q: (q.max_delivery_days, q.min_delivery_days, q.price.amount))
        faster = fastest.max_delivery_days < cheapest.max_delivery_days
        estimate = DeliveryEstimate(
            country=country,
            min_days=cheapest.min_delivery_days,
            max_days=cheapest.max_delivery_days,
            fast_min_days=fastest.min_delivery_days if faster else None,
            fast_max_days=fastest.max_delivery_days if faster else None,
        )
    cache.set(key, estimate or False, DELIVERY_ESTIMATE_TTL)
    return estimate
