"""Read replicas: which database a query goes to.

`DATABASE_REPLICA_URLS` adds `replica_1`, `replica_2`, ... to `DATABASES`
(settings). `ReplicaRouter` sends to a healthy replica:

- reads of catalog models (`REPLICA_APPS`) but stock (`PRIMARY_MODELS`), and
- every read inside `replica_reads()`: staff reports and the reconciliation's
  checks, whose callers promise that the reads tolerate lag; writes made before
  the block do not pin them, writes inside it do.

Everything else goes to the primary (`default`), and so does every read:

- inside a transaction on the primary (the read belongs to a write), or
- after a write in the same request or Celery task ("pinned to primary"): any
  write the router sees (`db_for_write`) and any writing statement on the
  primary's connection (an execute wrapper, for raw SQL) sets the pin;
  `primary_pin_middleware` starts each request unpinned and `replica_signals_connect`
  does the same for each task. A request that wrote sets a cookie for
  `REPLICA_MAX_LAG_SECONDS`, so the shopper's next requests (the redirect after
  a checkout) also read from the primary.

A replica that is down, or whose replay lags more than
`REPLICA_MAX_LAG_SECONDS`, is skipped; its state is checked with
`pg_last_xact_replay_timestamp()` and cached for `HEALTH_TTL_SECONDS` per process.
"""

import logging
import random
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import ContextDecorator
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

REPLICA_PREFIX = "replica_"
REPLICA_APPS = frozenset({"catalog"})
# Stock is read after its cache tokens (catalog.cache): an older copy would be cached as current.
PRIMARY_MODELS = frozenset({"catalog.stock", "catalog.stockreservation"})
HEALTH_TTL_SECONDS = 2.0
PIN_COOKIE = "shop_primary"

_pinned: ContextVar[bool] = ContextVar("shop_db_pinned", default=False)
_pinned_by_cookie: ContextVar[bool] = ContextVar("shop_db_pinned_by_cookie", default=False)
_replica_reads: ContextVar[bool] = ContextVar("shop_db_replica_reads", default=False)
_health: dict[str, tuple[float, bool]] = {}
_task_tokens: dict[str, tuple] = {}

# Lag in seconds; 0 when the replica has replayed all it received from a streaming primary
# (an idle primary commits nothing, so the last replay's age alone would grow for ever).
LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE
         WHEN NOT pg_is_in_recovery() THEN 0
         WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
              AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0
         ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9)
       END
"""
_WRITE_SQL = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|COPY|LOCK|CALL|GRANT|REVOKE)\b"
    r"|\bFOR\s+(NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(KEY\s+)?SHARE\b"
    r"|^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b",
    re.IGNORECASE | re.DOTALL,
)


def replica_aliases() -> list[str]:
    """The configured replica aliases, in name order."""
    return sorted(alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX))


def primary_pin() -> None:
    """From now on, this request's or task's reads go to the primary."""
    _pinned.set(True)


def primary_pinned() -> bool:
    """Whether this request or task has written (its reads then go to the primary)."""
    return _pinned.get()


class replica_reads(ContextDecorator):  # noqa: N801  (used like contextlib's lower-case helpers)
    """Reads inside may go to a replica even after a write made before the block (staff reports,
    reconciliation): the caller promises they tolerate lag. A write inside the block pins the rest of
    it, and what follows, to the primary; a transaction on the primary keeps its reads there."""

    def __enter__(self):
        self._tokens = (_pinned.set(False), _replica_reads.set(True))
        return self

    def __exit__(self, *exc):
        wrote = _pinned.get()
        _replica_reads.reset(self._tokens[1])
        _pinned.reset(self._tokens[0])
        if wrote:
            _pinned.set(True)
        return False

    def _recreate_cm(self):
        return type(self)()  # one instance per decorated call: threads never share its tokens


def replica_iter(iterable: Iterable) -> Iterator:
    """Iterate inside `replica_reads()` one item at a time (a streamed CSV is read after its view returned)."""
    iterator = iter(iterable)
    while True:
        with replica_reads():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def replica_lag_seconds(alias: str) -> float | None:
    """The replica's replay lag in seconds (0 for a database not in recovery); None when it cannot be asked."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            _in_recovery, lag = cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("replica %s is unreachable: %s", alias, exc)
        try:
            connection.close()
        except DatabaseError:
            pass
        return None
    return float(lag)


def replica_healthy(alias: str) -> bool:
    """Up and within REPLICA_MAX_LAG_SECONDS; the answer is cached for HEALTH_TTL_SECONDS."""
    now = time.monotonic()
    cached = _health.get(alias)
    if cached is not None and now - cached[0] < HEALTH_TTL_SECONDS:
        return cached[1]
    lag = replica_lag_seconds(alias)
    healthy = lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS
    if lag is not None and not healthy:
        logger.warning("replica %s lags %.1f s, more than %s s: reads go elsewhere", alias, lag,
                       settings.REPLICA_MAX_LAG_SECONDS)
    _health[alias] = (now, healthy)
    return healthy


def replica_health_forget() -> None:
    """Drop the cached health of every replica (the next read asks again)."""
    _health.clear()


def replica_for_read() -> str | None:
    """A healthy replica for a read that may lag, or None for the primary."""
    aliases = replica_aliases()
    if not aliases or _pinned.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None
    if _pinned_by_cookie.get() and not _replica_reads.get():
        return None
    healthy = [alias for alias in aliases if replica_healthy(alias)]
    return random.choice(healthy) if healthy else None


class ReplicaRouter:
    """Catalog reads and `replica_reads()` blocks to a healthy replica; everything else to the primary."""

    def db_for_read(self, model, **hints):
        if _replica_reads.get() or (
            model._meta.app_label in REPLICA_APPS and model._meta.label_lower not in PRIMARY_MODELS
        ):
            return replica_for_read() or DEFAULT_DB_ALIAS
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        primary_pin()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def _pin_on_write(execute, sql, params, many, context):
    # Once pinned, the request stays pinned: the pattern (a scan of the whole statement) is not run again.
    if not _pinned.get() and _WRITE_SQL.search(str(sql)):
        _pinned.set(True)
    return execute(sql, params, many, context)


def _wrapper_install(sender, connection, **kwargs) -> None:
    if connection.alias == DEFAULT_DB_ALIAS and _pin_on_write not in connection.execute_wrappers:
        connection.execute_wrappers.append(_pin_on_write)


def primary_pin_middleware(get_response):
    """Each request starts unpinned (or pinned by the cookie of a recent write) and pins by its writes."""

    def middleware(request):
        pinned = _pinned.set(False)
        by_cookie = _pinned_by_cookie.set(PIN_COOKIE in request.COOKIES)
        explicit = _replica_reads.set(False)
        try:
            response = get_response(request)
            if _pinned.get() and replica_aliases():
                response.set_cookie(PIN_COOKIE, "1", max_age=max(1, int(settings.REPLICA_MAX_LAG_SECONDS) + 1),
                                    httponly=True, samesite="Lax")
            return response
        finally:
            _replica_reads.reset(explicit)
            _pinned_by_cookie.reset(by_cookie)
            _pinned.reset(pinned)

    return middleware


def _task_start(task_id=None, **kwargs) -> None:
    _task_tokens[task_id] = (_pinned.set(False), _replica_reads.set(False), _pinned_by_cookie.set(False))


def _task_end(task_id=None, **kwargs) -> None:
    tokens = _task_tokens.pop(task_id, None)
    if tokens is not None:
        _pinned.reset(tokens[0])
        _replica_reads.reset(tokens[1])
        _pinned_by_cookie.reset(tokens[2])


def replica_signals_connect() -> None:
    """Install the primary's write wrapper on each new connection and unpin at each Celery task's start."""
    from celery.signals import task_postrun, task_prerun

    connection_created.connect(_wrapper_install, dispatch_uid="shop.core.db.pin_on_write")
    for connection in connections.all(initialized_only=True):
        _wrapper_install(None, connection)
    task_prerun.connect(_task_start, dispatch_uid="shop.core.db.task_start", weak=False)
    task_postrun.connect(_task_end, dispatch_uid="shop.core.db.task_end", weak=False)
