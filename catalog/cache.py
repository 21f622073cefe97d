"""Cache keys for catalog reads: one catalog version, plus one stock token per product.

Services that change products, prices, categories, exchange rates or reviews
bump the catalog version after commit, so every cached category tree, listing
and product page becomes stale at once (old keys simply expire).

Stock changes do not touch the version: during a sale nearly every request
reserves stock, and a version bump each time would empty the whole cache.
Instead each product has a stock token, replaced after every commit that
changes its stock. A cached answer that shows stock (a product page, a
listing with "in stock" badges) stores the tokens of the products it shows,
and is used only while they are all still current; so a stock change re-renders
only the pages showing that product, and product pages and add-to-cart forms
always show current stock. Readers take the tokens *before* they read stock,
so an answer built from stock older than its tokens cannot be stored.

One thing may lag: the in-stock facet counts cached with a listing's facets
(`settings.CATALOG_FACETS_CACHE_SECONDS`, two minutes by default).
"""

import hashlib
import json
import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import get_language

VERSION_KEY = "catalog:version"
TTL = 600
# Listings (a page of products with facets) are re-read often; a short life
# bounds their size and the age of their in-stock facet counts.
LISTING_TTL = 120


def catalog_cache_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, None)
        version = cache.get(VERSION_KEY) or 1
    return int(version)


def catalog_cache_key(*parts) -> str:
    return ":".join(["catalog", f"v{catalog_cache_version()}", *[str(p) for p in parts]])


def listing_cache_key(kind: str, request, currency: str) -> str:
    """The cache key of one catalog answer (a listing, a product) as `request` asks for it: host, path, every
    query parameter (order-insensitive), currency and language, under the
    current catalog version. Only answers that validated are stored under it,
    so a hit needs no re-validation."""
    params = sorted((key, sorted(values)) for key, values in request.GET.lists())
    raw = json.dumps([request.get_host(), request.is_secure(), request.path, params, currency, get_language()])
    return catalog_cache_key(kind, hashlib.sha256(raw.encode()).hexdigest())


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # missing key: start a fresh generation
        cache.set(VERSION_KEY, 2, None)


def catalog_cache_invalidate() -> None:
    """Make cached catalog reads stale once the current transaction commits."""
    transaction.on_commit(_bump)


# --- stock tokens ------------------------------------------------------------------------


def _stock_key(product_id: int) -> str:
    return f"catalog:stock:{int(product_id)}"


def _new_token() -> str:
    return uuid.uuid4().hex[:16]


def stock_tokens(product_ids: Iterable[int]) -> dict[str, str]:
    """The current stock token of each product (keys are ids as strings, JSON-safe).

    A product without a token (never changed, or evicted) gets a new random
    one: never a default that an old cached answer could still carry.
    """
    keys = {_stock_key(pid): str(int(pid)) for pid in product_ids}
    if not keys:
        return {}
    found = cache.get_many(list(keys))
    missing = [key for key in keys if key not in found]
    if missing:
        for key in missing:
            cache.add(key, _new_token(), None)
        found.update(cache.get_many(missing))
    return {keys[key]: token for key, token in found.items()}


def stock_tokens_current(tokens: dict[str, str] | None) -> bool:
    """Whether the stock seen by a cached answer (its tokens) is still the current stock."""
    if tokens is None:
        return False
    if not tokens:
        return True
    return stock_tokens(int(pid) for pid in tokens) == tokens


def _stock_bump(product_ids: list[int]) -> None:
    cache.set_many({_stock_key(pid): _new_token() for pid in product_ids}, None)


def stock_cache_invalidate(product_ids: Iterable[int]) -> None:
    """Make cached answers showing these products' stock stale once the transaction commits."""
    ids = sorted({int(pid) for pid in product_ids})
    if ids:
        transaction.on_commit(lambda: _stock_bump(ids), robust=True)
