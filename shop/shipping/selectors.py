"""Reads: which methods serve a country, a parcel's weight and a subtotal, at what price; tracking links."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Subquery
from djmoney.money import Money

from shop.core.money import money_to_dict
from shop.core.rules_cache import pricing_rules_key, pricing_rules_read, pricing_rules_store
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


@dataclass(frozen=True)
class MethodRule:
    """One active method of an active carrier as plain data, priced in one currency (what the cache keeps).

    `zone_countries`: each zone's countries as stored; `has_price`: whether it has a price row in the
    currency (`flat_price`, `free_above` from it); `bands`: (max_weight_grams, price) in the currency,
    lightest first (by-weight methods only).
    """

    id: int
    name: str
    carrier: str
    carrier_code: str
    kind: str
    min_delivery_days: int
    max_delivery_days: int
    zone_countries: tuple = ()
    has_price: bool = False
    flat_price: Decimal | None = None
    free_above: Decimal | None = None
    bands: tuple[tuple[int, Decimal], ...] = ()


def shipping_rules_key(currency: str) -> str:
    """The pricing rules cache key of every method priced in `currency` (shop.core.rules_cache)."""
    return pricing_rules_key("shipping", currency)


def shipping_rules_load(currency: str) -> tuple[MethodRule, ...]:
    """Every active method of an active carrier with its zones, price row and bands in `currency`, from the
    database: two queries (methods with their price row, zones), three with by-weight methods (bands)."""
    row = ShippingMethodPrice.objects.filter(method=OuterRef("pk"), currency=currency)
    methods = list(
        ShippingMethod.objects.filter(is_active=True, carrier__is_active=True)
        .select_related("carrier")
        .prefetch_related("zones")
        .annotate(
            price_row=Exists(row),
            flat_price=Subquery(row.values("price")[:1]),
            free_above=Subquery(row.values("free_above")[:1]),
        )
    )
    bands = _bands_of(methods, currency)
    return tuple(
        MethodRule(
            id=m.pk, name=m.name, carrier=m.carrier.name, carrier_code=m.carrier.code, kind=m.kind,
            min_delivery_days=m.min_delivery_days, max_delivery_days=m.max_delivery_days,
            zone_countries=tuple(zone.countries for zone in m.zones.all()), has_price=bool(m.price_row),
            flat_price=m.flat_price, free_above=m.free_above, bands=tuple(bands.get(m.pk, ())),
        )
        for m in methods
    )


def _bands_of(methods: list[ShippingMethod], currency: str) -> dict[int, list[tuple[int, Decimal]]]:
    """Each by-weight method's bands in `currency`, lightest first (one query, none without by-weight methods)."""
    by_weight = [m.pk for m in methods if m.kind == ShippingMethod.Kind.BY_WEIGHT]
    found: dict[int, list[tuple[int, Decimal]]] = {}
    if not by_weight:
        return found
    for method_id, max_weight, price in (
        WeightBand.objects.filter(method_id__in=by_weight, currency=currency)
        .order_by("max_weight_grams", "id")
        .values_list("method_id", "max_weight_grams", "price")
    ):
        found.setdefault(method_id, []).append((max_weight, price))
    return found


def shipping_rules(currency: str) -> tuple[MethodRule, ...]:
    """`shipping_rules_load(currency)` from the pricing rules cache (one round trip when warm, no query)."""
    key = shipping_rules_key(currency)
    token, found = pricing_rules_read([key])
    if key not in found:
        found[key] = shipping_rules_load(currency)
        pricing_rules_store(token, {key: found[key]})
    return found[key]


def _method_price(method: MethodRule, *, weight_grams: int, currency: str) -> Money | None:
    """The method's price for the weight before any free threshold; None when it has none for it."""
    if method.kind == ShippingMethod.Kind.BY_WEIGHT:
        # Bands are upper bounds: the lightest band that holds the parcel prices it.
        band = next((price for max_weight, price in method.bands if weight_grams <= max_weight), None)
        return None if band is None else Money(band, currency)
    return None if not method.has_price or method.flat_price is None else Money(method.flat_price, currency)


def _serves(method: MethodRule, country: str) -> bool:
    return any(country in countries for countries in method.zone_countries)


def _method_quote(method: MethodRule, *, country: str, weight_grams: int, subtotal: Money) -> ShippingQuote | None:
    if not _serves(method, country):
        return None
    currency = subtotal.currency.code
    price = _method_price(method, weight_grams=weight_grams, currency=currency)
    if price is None:
        return None
    is_free = method.has_price and method.free_above is not None and subtotal.amount >= method.free_above
    return ShippingQuote(
        method_id=method.id,
        name=method.name,
        carrier=method.carrier,
        carrier_code=method.carrier_code,
        price=Money(0, currency) if is_free else price,
        min_delivery_days=method.min_delivery_days,
        max_delivery_days=method.max_delivery_days,
        is_free=is_free,
    )


def _check_parcel(weight_grams: int) -> None:
    if isinstance(weight_grams, bool) or not isinstance(weight_grams, int) or weight_grams < 0:
        raise ValueError(f"weight_grams must be a whole number of grams from 0, not {weight_grams!r}")


def shipping_methods_available(
    *, country: str, weight_grams: int, subtotal: Money, methods: Sequence[MethodRule] | None = None
) -> list[ShippingQuote]:
    """Methods that serve `country` and hold `weight_grams`, priced in the subtotal's currency, cheapest first.

    A method is left out when none of its zones has the country, when it has no
    price in the currency, or (by weight) when no band holds the weight. Shipping
    is free when the subtotal is at or above the method's threshold in the
    currency. The methods come from the pricing rules cache (`shipping_rules`: no
    query when warm, else two, three with by-weight methods, whatever their number), or are the given
    `methods` (`shipping_rules` of the subtotal's currency, read by the caller with other rules).
    """
    return _quotes(country=country, weight_grams=weight_grams, subtotal=subtotal, methods=methods)


def _quotes(
    *, country: str, weight_grams: int, subtotal: Money, method_id: int | None = None,
    methods: Sequence[MethodRule] | None = None,
) -> list[ShippingQuote]:
    _check_parcel(weight_grams)
    country = (country or "").strip().upper()
    currency = subtotal.currency.code
    if currency not in settings.CURRENCIES or not country:
        return []
    quotes = [
        quote
        for method in (shipping_rules(currency) if methods is None else methods)
        if method_id is None or method.id == method_id
        if (quote := _method_quote(method, country=country, weight_grams=weight_grams, subtotal=subtotal))
    ]
    return sorted(quotes, key=lambda q: (q.price.amount, q.max_delivery_days, q.name, q.method_id))


def shipping_method_quote(
    *, method_id: int, country: str, weight_grams: int, subtotal: Money
) -> ShippingQuote:
    """The quote of one chosen method (from the pricing rules cache, like shipping_methods_available);
    ShippingMethodUnavailable (field shipping_method) when it does not serve."""
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

    No query when the pricing rules cache is warm (shipping_methods_available), and none from its own cache.
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
