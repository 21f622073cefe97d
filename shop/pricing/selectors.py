"""Reads: the rules the pipeline applies, loaded from the database into its plain dataclasses.

`order_price(...)` is the one entry point checkout, the cart page and the API
call (docs/pricing.md, "Integration (next)"): it loads the tax rates of the
destination, the promotions active now and the voucher, then runs
shop.pricing.pipeline.price_order.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from djmoney.money import Money

from catalog.cache import catalog_cache_key
from catalog.models import Category
from shop.core.rules_cache import pricing_rules_key, pricing_rules_read, pricing_rules_store
from shop.pricing.exceptions import VoucherExhausted, VoucherExpired, VoucherInvalid
from shop.pricing.models import ProductTaxClass, Promotion, TaxClass, TaxRate, Voucher
from shop.pricing.pipeline import (
    GiftCardBalance,
    LineInput,
    PricedOrder,
    PricingInput,
    PromotionRule,
    VoucherRule,
    price_order,
    unit_price_promoted,
)
from shop.shipping.selectors import MethodRule, shipping_rules_key, shipping_rules_load

# Listings read the active promotions from the cache: a page of cards costs no query for them.
# Saving a promotion bumps the catalog version (a new key); a start or end time shows within
# this many seconds (the cart and checkout always read the promotions running at that moment).
PROMOTION_RULES_TTL = 60


def _tax_key(country: str, region: str) -> str:
    return pricing_rules_key("tax", country.upper(), region.upper())


def _tax_rates_load(country: str, region: str) -> dict[str, Decimal]:
    rows = TaxRate.objects.filter(country=country.upper()).filter(Q(region="") | Q(region=region.upper()))
    rates = {}
    for row in sorted(rows, key=lambda r: r.region != ""):
        rates[row.tax_class] = row.rate
    return rates


def tax_rates_for(*, country: str, region: str = "") -> dict[str, Decimal]:
    """Tax class -> percent for a destination; a region's row wins over the country-wide one.

    From the pricing rules cache (no query when warm, else one)."""
    return pricing_rules(country=country, region=region, promotions=False).tax_rates


def _tax_class_key(product_id: int) -> str:
    return pricing_rules_key("tax-class", int(product_id))


def _tax_classes_load(ids: list[int]) -> dict[int, str]:
    found = dict(ProductTaxClass.objects.filter(product_id__in=ids).values_list("product_id", "tax_class"))
    return {pid: found.get(pid, TaxClass.STANDARD) for pid in ids}


def product_tax_classes(*, product_ids: Iterable[int]) -> dict[int, str]:
    """Product id -> tax class; products without a row are standard (pricing rules cache; one query for
    the products it does not hold)."""
    return pricing_rules(product_ids=product_ids, promotions=False).tax_classes


@dataclass(frozen=True)
class _PromotionWindows:
    """The active-flagged promotions not ended at `loaded_at`, each as (starts_at, ends_at, rule), in the
    order promotions_active gives them: what the cache keeps, filtered by the time of each call."""

    loaded_at: datetime
    promotions: tuple[tuple[datetime, datetime | None, PromotionRule], ...]

    def running(self, now: datetime) -> list[PromotionRule]:
        return [rule for starts, ends, rule in self.promotions if starts <= now and (ends is None or ends > now)]


PROMOTIONS_KEY = pricing_rules_key("promotions")


def _promotion_windows_load(now: datetime) -> _PromotionWindows:
    """Promotions flagged active and not ended at `now` (starting later too), categories widened to every
    subcategory: five queries (promotions, amounts, products, categories, category paths)."""
    promotions = list(
        Promotion.objects.filter(is_active=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .prefetch_related("amounts", "products", "categories")
    )
    paths = {category.path for promotion in promotions for category in promotion.categories.all()}
    by_path = _categories_under(paths)
    return _PromotionWindows(
        loaded_at=now,
        promotions=tuple(
            (promotion.starts_at, promotion.ends_at, _promotion_rule(promotion, by_path)) for promotion in promotions
        ),
    )


def _promotion_rule(promotion: Promotion, by_path: dict[str, set[int]]) -> PromotionRule:
    return PromotionRule(
        id=promotion.pk,
        name=promotion.name,
        kind=promotion.kind,
        percentage=promotion.percentage,
        amounts={row.currency: row.amount for row in promotion.amounts.all()},
        product_ids=frozenset(product.pk for product in promotion.products.all()),
        category_ids=frozenset(
            cid for category in promotion.categories.all() for cid in by_path.get(category.path, ())
        ),
    )


def promotions_active(*, now: datetime | None = None) -> list[PromotionRule]:
    """The promotions running at `now`, their categories widened to every subcategory.

    From the pricing rules cache, filtered by `now` at each call (no query when warm, else five)."""
    return pricing_rules(now=now).promotions


@dataclass(frozen=True)
class PricingRules:
    """The rules one pricing call reads: tax rates of the destination (empty without a country), the
    products' tax classes, the promotions running now, and every shipping method priced in a currency
    (None unless asked for)."""

    tax_rates: dict[str, Decimal]
    tax_classes: dict[int, str]
    promotions: list[PromotionRule]
    shipping_methods: tuple[MethodRule, ...] | None = None


def pricing_rules(
    *,
    country: str = "",
    region: str = "",
    product_ids: Iterable[int] = (),
    shipping_currency: str | None = None,
    promotions: bool = True,
    now: datetime | None = None,
) -> PricingRules:
    """The rules of one pricing call from the pricing rules cache (shop.core.rules_cache) in one round trip:
    no query when warm; each kind not cached is read from the database and stored. Without a country no
    tax rates, without `shipping_currency` no methods, without `promotions` none."""
    now = now or timezone.now()
    loaders = {}
    if promotions:
        # Loaded as of now at the latest: an entry serves every call from its load time on.
        loaders[PROMOTIONS_KEY] = lambda: _promotion_windows_load(min(now, timezone.now()))
    if country:
        loaders[_tax_key(country, region)] = lambda: _tax_rates_load(country, region)
    if shipping_currency is not None:
        loaders[shipping_rules_key(shipping_currency)] = lambda: shipping_rules_load(shipping_currency)
    class_keys = {_tax_class_key(pid): int(pid) for pid in product_ids}
    token, found = pricing_rules_read([*loaders, *class_keys])
    fresh = {key: load() for key, load in loaders.items() if key not in found}
    missing = [pid for key, pid in class_keys.items() if key not in found]
    if missing:
        fresh |= {_tax_class_key(pid): tax_class for pid, tax_class in _tax_classes_load(missing).items()}
    pricing_rules_store(token, fresh)
    found |= fresh
    return PricingRules(
        tax_rates=found[_tax_key(country, region)] if country else {},
        tax_classes={pid: found[key] for key, pid in class_keys.items()},
        promotions=_running(found[PROMOTIONS_KEY], now) if promotions else [],
        shipping_methods=found[shipping_rules_key(shipping_currency)] if shipping_currency is not None else None,
    )


def _running(windows: _PromotionWindows, now: datetime) -> list[PromotionRule]:
    # Rules loaded after `now` may lack a promotion that ended in between: read them as of `now`.
    return windows.running(now) if now >= windows.loaded_at else _promotion_windows_load(now).running(now)


def _categories_under(paths: set[str]) -> dict[str, set[int]]:
    """Path -> ids of the category and all its descendants (materialized path prefix)."""
    if not paths:
        return {}
    condition = Q()
    for path in paths:
        condition |= Q(path__startswith=path)
    found: dict[str, set[int]] = {path: set() for path in paths}
    for cid, cpath in Category.objects.filter(condition).values_list("id", "path"):
        for path in paths:
            if cpath.startswith(path):
                found[path].add(cid)
    return found


def voucher_get_usable(*, code: str, now: datetime | None = None) -> Voucher:
    """The voucher with `code` (any case) if it can be used now; VoucherInvalid/Expired/Exhausted otherwise."""
    now = now or timezone.now()
    voucher = Voucher.objects.prefetch_related("amounts").filter(code__iexact=code.strip()).first()
    if voucher is None or not voucher.is_active or not code.strip():
        raise VoucherInvalid(field="code")
    if voucher.starts_at > now:
        raise VoucherInvalid(field="code")
    if voucher.ends_at is not None and voucher.ends_at <= now:
        raise VoucherExpired(field="code")
    if voucher.usage_limit is not None and voucher.uses >= voucher.usage_limit:
        raise VoucherExhausted(field="code")
    return voucher


def voucher_rule(voucher: Voucher) -> VoucherRule:
    """The pipeline's view of a voucher (its amounts prefetched or loaded here)."""
    rows = list(voucher.amounts.all())
    return VoucherRule(
        code=voucher.code,
        kind=voucher.kind,
        percentage=voucher.percentage,
        amounts={row.currency: row.amount for row in rows if row.amount is not None},
        minimum_spend={row.currency: row.minimum_spend for row in rows if row.minimum_spend is not None},
    )


def order_price(
    *,
    currency: str,
    lines: Sequence[LineInput],
    country: str,
    region: str = "",
    voucher_code: str | None = None,
    shipping: Money | None = None,
    gift_cards: Sequence[GiftCardBalance] = (),
    now: datetime | None = None,
) -> PricedOrder:
    """Price lines for a destination with today's rules: rates, active promotions, the voucher (if any)."""
    voucher = voucher_rule(voucher_get_usable(code=voucher_code, now=now)) if voucher_code else None
    rules = pricing_rules(country=country, region=region, now=now)
    return price_order(
        PricingInput(
            currency=currency,
            lines=lines,
            country=country,
            region=region,
            tax_rates=rules.tax_rates,
            prices_include_tax=settings.PRICES_INCLUDE_TAX,
            promotions=rules.promotions,
            voucher=voucher,
            shipping=shipping,
            gift_cards=gift_cards,
        )
    )


def promotions_active_cached() -> list[PromotionRule]:
    """`promotions_active()` for pages: from the cache (at most PROMOTION_RULES_TTL old), else promotions_active()."""
    key = catalog_cache_key("promotion-rules")
    rules = cache.get(key)
    if rules is None:
        rules = promotions_active()
        cache.set(key, rules, PROMOTION_RULES_TTL)
    return rules


def unit_prices_promoted(
    items: Iterable[tuple[Money, int, int | None]], *, promotions: Sequence[PromotionRule] | None = None
) -> list[Money]:
    """The price after catalogue promotions of each (unit price, product id, category id), in one batch.

    The pipeline's own promotion step on a one-unit line, so a card's price is what the cart charges.
    """
    rules = promotions_active_cached() if promotions is None else promotions
    return [
        unit_price_promoted(
            unit_price=price, product_id=product_id,
            category_ids=frozenset([category_id]) if category_id else frozenset(), promotions=rules,
        )[0]
        if rules else price
        for price, product_id, category_id in items
    ]
