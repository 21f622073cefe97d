"""Cache keys for catalog reads, all carrying one version number.

Services that change products, prices, stock or reviews bump the version after
commit, so every cached category tree and product page becomes stale at once
(old keys simply expire).
"""

import hashlib
import json

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import get_language

VERSION_KEY = "catalog:version"
TTL = 600
# Listings (a page of products with facets) change with every stock movement
# (the version moves) and are re-read often; a short life bounds their size.
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
