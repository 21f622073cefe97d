"""A circuit breaker around the payment provider, its state in the Django cache (shared by every process).

- closed: calls go through. PROVIDER_BREAKER_THRESHOLD failures (a transport
  error or a 5xx answer) within PROVIDER_BREAKER_WINDOW_SECONDS open it; any
  answer below 500 starts the count again.
- open: new card payments and deposits are refused before anything is made
  (`breaker_refuse_if_open`: ProviderUnavailable, 503 with Retry-After), the
  gateway sends nothing (`breaker_call_begin` answers None: the call is
  `circuit_open`, nothing charged), and the retry sweep pauses.
- half-open: once PROVIDER_BREAKER_COOLDOWN_SECONDS have passed, the first
  call takes the single probe slot (an atomic `cache.add`); an answer closes
  the breaker, a failure opens it for another cool-down. Until the probe
  returns, everything else is refused as while open.

The cache is Redis in production, so every web and worker process sees one
breaker; on the embedded default (local-memory cache) each process has its own.
Times are wall-clock seconds (`time.time()`), comparable across processes.
"""

import time
from enum import StrEnum

import structlog
from django.conf import settings
from django.core.cache import cache

from payments.exceptions import ProviderUnavailable

logger = structlog.get_logger(__name__)

KEY_FAILURES = "payments:breaker:failures"
KEY_OPENED_AT = "payments:breaker:opened_at"
KEY_PROBE = "payments:breaker:probe"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerTicket(StrEnum):
    """What `breaker_call_begin` lets a call be: an ordinary call, or the one probe of a half-open breaker."""

    CALL = "call"
    PROBE = "probe"


def _opened_at() -> float | None:
    value = cache.get(KEY_OPENED_AT)
    return float(value) if value is not None else None


def breaker_state(*, now: float | None = None) -> BreakerState:
    """closed, open (cooling down) or half_open (cool-down over: the next call is the probe)."""
    opened_at = _opened_at()
    if opened_at is None:
        return BreakerState.CLOSED
    now = time.time() if now is None else now
    if now < opened_at + settings.PROVIDER_BREAKER_COOLDOWN_SECONDS:
        return BreakerState.OPEN
    return BreakerState.HALF_OPEN


def breaker_retry_after(*, now: float | None = None) -> int:
    """Whole seconds until the breaker may let a probe through (at least 1)."""
    opened_at = _opened_at()
    now = time.time() if now is None else now
    if opened_at is None:
        return 1
    return max(1, int(opened_at + settings.PROVIDER_BREAKER_COOLDOWN_SECONDS - now + 0.999))


def breaker_is_refusing() -> bool:
    """Whether a new provider call would be refused now: open, or half-open with its probe in flight."""
    state = breaker_state()
    return state == BreakerState.OPEN or (state == BreakerState.HALF_OPEN and cache.get(KEY_PROBE) is not None)


def breaker_refuse_if_open() -> None:
    """Raise ProviderUnavailable (503, Retry-After) while the breaker refuses calls; call before reserving anything."""
    if breaker_is_refusing():
        raise ProviderUnavailable(retry_after=breaker_retry_after())


def _probe_ttl() -> int:
    """How long a probe holds its slot: one provider call, so a probe that died frees it."""
    return int(settings.PAYMENT_CONNECT_TIMEOUT + settings.PAYMENT_READ_TIMEOUT) + 5


def breaker_call_begin() -> BreakerTicket | None:
    """Ask to call the provider: a ticket (pass it to breaker_call_end), or None: send nothing."""
    state = breaker_state()
    if state == BreakerState.CLOSED:
        return BreakerTicket.CALL
    if state == BreakerState.HALF_OPEN and cache.add(KEY_PROBE, time.time(), timeout=_probe_ttl()):
        return BreakerTicket.PROBE
    return None


def breaker_call_end(*, ticket: BreakerTicket, failed: bool) -> None:
    """Record how a call went: `failed` for a transport error or a 5xx answer."""
    if ticket == BreakerTicket.PROBE:
        if failed:
            cache.set(KEY_OPENED_AT, time.time(), timeout=None)
            cache.delete(KEY_PROBE)
            logger.warning("provider breaker probe failed; open again", breaker="open")
        else:
            cache.delete_many([KEY_OPENED_AT, KEY_FAILURES, KEY_PROBE])
            logger.warning("provider breaker probe answered; closed", breaker="closed")
        return
    if not failed:
        cache.delete(KEY_FAILURES)
        return
    _failure_count()


def _failure_count() -> None:
    """One more failure in the window (the window starts at its first failure); opens the breaker at the threshold."""
    window = settings.PROVIDER_BREAKER_WINDOW_SECONDS
    cache.add(KEY_FAILURES, 0, timeout=window)
    try:
        failures = cache.incr(KEY_FAILURES)
    except ValueError:  # the window ran out between add and incr
        cache.add(KEY_FAILURES, 1, timeout=window)
        failures = 1
    if failures >= settings.PROVIDER_BREAKER_THRESHOLD and _opened_at() is None:
        cache.set(KEY_OPENED_AT, time.time(), timeout=None)
        cache.delete(KEY_FAILURES)
        logger.warning("provider breaker opened", breaker="open", failures=failures, window_seconds=window)


def breaker_reset() -> None:
    """Close the breaker and forget its failures (tests, and staff after fixing the provider's configuration)."""
    cache.delete_many([KEY_OPENED_AT, KEY_FAILURES, KEY_PROBE])


def breaker_status() -> dict:
    """The breaker as /healthz, the metrics and the staff dashboard show it."""
    state = breaker_state()
    status = {"state": str(state), "failures": int(cache.get(KEY_FAILURES) or 0)}
    if state != BreakerState.CLOSED:
        status["retry_after"] = breaker_retry_after()
    return status
