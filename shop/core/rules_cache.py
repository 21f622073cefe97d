"""The pricing rules cache: tax rates, promotions and shipping methods that every cart and checkout reads.

Every write to a rule (shop.pricing and shop.shipping register model signals in
their AppConfig.ready; services and loaders that write with queryset
`.update()` or raw SQL call `pricing_rules_invalidate()` themselves) replaces
one version token after commit. Each cached rule is stored with the token it
was read under, and is used only while that token is current: the catalog's
version key (catalog.cache) with two changes, so that a hit is always exact:

- The token is random, never a counter: a token evicted and made again cannot
  bring back rules cached under an earlier token of the same number.
- The keys are fixed and the token travels in the value, so one `get_many`
  reads the token and every rule a pricing call needs in one round trip.

A transaction that has changed a rule and not yet committed reads the
database and stores nothing: its uncommitted rules must not reach other
readers (it may still roll back), and its own reads must see its writes.
Time windows are not cached as expiry: a promotion's `starts_at`/`ends_at`
are cached with it and compared with the time of each call.
"""

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import signals

VERSION_KEY = "pricing-rules:version"
# Part of every rule key: raise it when the shape of a cached value changes, so a deploy never reads
# values pickled by the code before it under a token that is still current.
SCHEMA = 1
# Rules are exact whatever their age (the token decides); the TTL only frees the memory of keys no longer read.
TTL = 24 * 60 * 60


class _Bump:
    """One transaction's bump of the token, run after its commit; `pending` until then."""

    def __init__(self):
        self.pending = True

    def __call__(self):
        self.pending = False
        cache.set(VERSION_KEY, _new_token(), None)


def _new_token() -> str:
    return uuid.uuid4().hex


def _bump_pending(using: str | None = None) -> bool:
    """Whether this connection's transaction changed a rule it has not committed yet (a savepoint
    rolled back takes its callbacks with it, a rollback all of them)."""
    connection = transaction.get_connection(using)
    return any(isinstance(func, _Bump) and func.pending for _sids, func, _robust in connection.run_on_commit)


def pricing_rules_invalidate(using: str | None = None) -> None:
    """Make every cached pricing rule stale once the current transaction commits (now, outside one)."""
    if not _bump_pending(using):
        transaction.on_commit(_Bump(), using=using, robust=True)


def pricing_rules_key(*parts) -> str:
    """A cache key for one rule set; parts that are not plain letters and digits are hashed (user input)."""
    text = ":".join(str(part) for part in parts)
    if not text.replace(":", "").replace("-", "").isalnum() and text:
        text = hashlib.sha256(text.encode()).hexdigest()
    return f"pricing-rules:s{SCHEMA}:{text}"


def pricing_rules_read(keys: Iterable[str]) -> tuple[str | None, dict[str, Any]]:
    """The current token and the values of `keys` cached under it, in one round trip.

    Token None: this transaction changed rules; read the database and store nothing.
    """
    if _bump_pending():
        return None, {}
    keys = list(keys)
    found = cache.get_many([VERSION_KEY, *keys])
    token = found.pop(VERSION_KEY, None)
    if token is None:
        cache.add(VERSION_KEY, _new_token(), None)
        return cache.get(VERSION_KEY), {}
    return token, {key: entry[1] for key, entry in found.items() if _valid(entry) and entry[0] == token}


def _valid(entry) -> bool:
    return isinstance(entry, tuple) and len(entry) == 2


def pricing_rules_store(token: str | None, values: dict[str, Any]) -> None:
    """Cache rules read from the database under the token taken before reading them."""
    if token is not None and values:
        cache.set_many({key: (token, value) for key, value in values.items()}, TTL)


def _changed(sender, using=None, **kwargs) -> None:
    if kwargs.get("action", "post_").startswith("post_"):
        pricing_rules_invalidate(using)


def pricing_rules_watch(*models) -> None:
    """Invalidate the rules after commit on every save and delete of `models` and every change of their
    many-to-many fields (called from the AppConfig.ready of the apps that own the rules)."""
    for model in models:
        uid = f"pricing-rules:{model._meta.label}"
        signals.post_save.connect(_changed, sender=model, dispatch_uid=uid)
        signals.post_delete.connect(_changed, sender=model, dispatch_uid=uid)
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            signals.m2m_changed.connect(_changed, sender=through, dispatch_uid=f"{uid}:{field.name}")
            # A cascade deletes through rows without m2m_changed.
            signals.post_delete.connect(_changed, sender=through, dispatch_uid=f"{uid}:{field.name}")
