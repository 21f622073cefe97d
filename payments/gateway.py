"""Client for the payment provider: a real HTTP client with timeouts and a connection pool.

`get_gateway()` returns the configured provider's client. Every call answers a
`GatewayResult` whose `outcome` says what the caller may do next:

- `succeeded`: done.
- `declined`: final (card declined, insufficient funds, or a request the
  provider refused as invalid with a 4xx); never retry with the same input.
- `retryable`: failed before anything was charged (5xx `processing_error`,
  connection refused, connect timeout, 401/403 when our API key is wrong,
  408, 429, 409 for a key still in flight at the provider); the same
  idempotency key may be sent again (the retry job asks `get_charge` first).
- `unknown`: the request may have been processed (read timeout, connection
  dropped after sending, other 5xx); ask the provider (`get_charge`) before
  doing anything else.
- `not_found`: only from `get_charge`/`get_payout`: the provider has nothing for the key.

The protocol is in docs/interfaces.md ("Payment provider (HTTP) and gateway
client"); a real provider (Stripe-like) gets its own `Gateway` subclass in
`GATEWAYS`, picked by `settings.PAYMENT_GATEWAY` (default "sandbox").
"""

import abc
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date as date_type
from enum import StrEnum
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from payments.breaker import BreakerTicket, breaker_call_begin, breaker_call_end
from payments.exceptions import GatewayError
from shop.core.money import minor_unit_quantum

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    RETRYABLE = "retryable"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"


class ProviderStatus(StrEnum):
    """The status of a charge, payout or refund in the provider's own answers and events."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProviderEvent(StrEnum):
    """The webhook event types the shop acts on; any other type is recorded and ignored."""

    CHARGE_SUCCEEDED = "charge.succeeded"
    CHARGE_FAILED = "charge.failed"
    PAYOUT_SUCCEEDED = "payout.succeeded"
    PAYOUT_FAILED = "payout.failed"
    REFUND_SUCCEEDED = "refund.succeeded"


class PaymentAttemptError(models.TextChoices):
    """The error codes the shop itself sets on an attempt or on a payment's, payout's or refund's
    `last_error_code`; a decline code the provider sends (`card_declined`, ...) is kept as it came."""

    TIMEOUT = "timeout", _("Timed out")
    CONNECTION_FAILED = "connection_failed", _("Connection failed")
    CONNECTION_LOST = "connection_lost", _("Connection lost")
    UNREACHABLE = "unreachable", _("Provider unreachable")
    INVALID_RESPONSE = "invalid_response", _("Invalid response")
    INVALID_TOKEN = "invalid_token", _("Not a provider token")
    DECLINED = "declined", _("Declined")
    RETRYABLE = "retryable", _("Retryable")
    LOOKUP_FAILED = "lookup_failed", _("Lookup failed")
    MAX_ATTEMPTS = "max_attempts", _("Attempts exhausted")
    NO_CHARGE_ID = "no_charge_id", _("No charge id")
    LATE_PAYOUT = "late_payout", _("Paid out after its reversal")
    CANCELLED = "cancelled", _("Cancelled")
    CIRCUIT_OPEN = "circuit_open", _("Not sent: the provider's circuit breaker is open")


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    provider_id: str = ""
    status_code: int | None = None
    response: dict = field(default_factory=dict)
    error_code: str = ""
    error: str = ""
    latency_ms: int = 0
    request: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.outcome == Outcome.SUCCEEDED

    def as_dict(self) -> dict:
        """JSON-ready form, e.g. for a PaymentAttempt row."""
        return {
            "outcome": str(self.outcome),
            "provider_id": self.provider_id,
            "status_code": self.status_code,
            "response": self.response,
            "error_code": self.error_code,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "request": self.request,
        }



class Gateway(abc.ABC):
    """What the shop needs from a payment provider. Amounts are Money; tokens never card numbers."""

    @abc.abstractmethod
    def charge(
        self, *, idempotency_key: str, amount: Money, token: str, reference: str, description: str = ""
    ) -> GatewayResult: ...

    @abc.abstractmethod
    def get_charge(self, *, idempotency_key: str) -> GatewayResult: ...

    @abc.abstractmethod
    def refund(
        self, *, idempotency_key: str, charge_id: str, amount: Money, reference: str
    ) -> GatewayResult: ...

    @abc.abstractmethod
    def payout(self, *, idempotency_key: str, amount: Money, token: str, reference: str) -> GatewayResult: ...

    @abc.abstractmethod
    def get_payout(self, *, idempotency_key: str) -> GatewayResult: ...

    @abc.abstractmethod
    def settlement_report(self, *, date: date_type) -> dict: ...

    def settlement_page(self, *, date: date_type, type: str, cursor: str = "", limit: int = 1000) -> dict:
        """One page of one list ("charges", "refunds", "payouts") of the day's report:
        `{"data": [...], "has_more": bool, "next_cursor": str | None}`.

        A provider without paging answers its whole list as one page (this
        default); HttpGateway asks for pages of at most `limit` rows.
        """
        rows = self.settlement_report(date=date).get(type) or []
        return {"data": rows if not cursor else [], "has_more": False, "next_cursor": None}


def amount_str(money: Money) -> str:
    return str(money.amount.quantize(minor_unit_quantum(money.currency.code)))


def _is_token(token) -> bool:
    """Only provider tokens are ever sent; anything else (a card number typed in) never leaves."""
    return isinstance(token, str) and token.startswith("tok_") and len(token) <= 64


def _refused_token(path: str) -> GatewayResult:
    return GatewayResult(
        Outcome.DECLINED,
        error_code=PaymentAttemptError.INVALID_TOKEN,
        error="not a card token; nothing was sent",
        request={"method": "POST", "path": path, "token": "[refused]"},
    )


def _sent_nothing(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before the request was sent (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


class CircuitOpen(requests.ConnectionError):
    """The breaker refused the call (payments.breaker): nothing was sent."""


# 4xx answers that say "not now" or "not with these credentials", not "never": nothing
# was charged for them, and the same idempotency key may be sent again later.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 429})
# A 409 for a request with the same key still running at the provider (Stripe:
# idempotency_key_in_use); a 409 idempotency_key_reused (other body) is our bug and final.
IN_FLIGHT_CODES = frozenset({"idempotency_key_in_use", "request_in_progress", "lock_timeout"})


def _log_credentials_refused(status: int, code: str, path: str) -> None:
    if status in (401, 403):
        # Every payment fails this way until someone fixes the configuration: say so loudly.
        logger.error(
            "payment provider refused our credentials on %s (HTTP %s %s); check PSP_API_KEY", path, status, code
        )


def _transient_refusal(status: int, code: str, path: str) -> bool:
    """Whether a 4xx means "try again later with the same key" rather than a final refusal."""
    _log_credentials_refused(status, code, path)
    return status in TRANSIENT_STATUSES or (status == 409 and code in IN_FLIGHT_CODES)


class HttpGateway(Gateway):
    """The Stripe-like JSON-over-HTTP protocol the sandbox speaks (docs/interfaces.md).

    Settings are read on each call (URL, key, timeouts), so tests can point the
    client elsewhere. One `requests.Session` per thread keeps a pool of warm
    connections; only connection attempts are retried by urllib3 (nothing was
    sent), never a request that reached the provider.
    """

    pool_maxsize = 20

    def __init__(self):
        self._local = threading.local()

    # --- transport ------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            retry = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, raise_on_status=False)
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_maxsize, max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "shop-gateway/1"
            self._local.session = session
        return session

    def _request(self, method: str, path: str, *, idempotency_key: str = "", body=None, params=None):
        """(status_code, json body, error text, latency ms, request record, exception)."""
        url = urljoin(settings.PAYMENT_GATEWAY_URL, path)
        headers = {"Authorization": f"Bearer {settings.PSP_API_KEY}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        record = {"method": method, "url": url, "idempotency_key": idempotency_key}
        if body is not None:
            record["body"] = body
        if params:
            record["params"] = params
        ticket = breaker_call_begin()
        if ticket is None:
            return None, {}, "the provider's circuit breaker is open; nothing was sent", 0, record, CircuitOpen()
        status, data, error, latency, exc = self._send(method, url, headers=headers, body=body, params=params)
        breaker_call_end(ticket=ticket, failed=exc is not None or status >= 500)
        if ticket == BreakerTicket.PROBE:
            logger.info("provider breaker probe: %s %s -> %s", method, path, status or error)
        return status, data, error, latency, record, exc

    def _send(self, method: str, url: str, *, headers: dict, body, params):
        """One HTTP request: (status_code, json body, error text, latency ms, exception)."""
        started = time.monotonic()
        try:
            response = self._session().request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                timeout=(settings.PAYMENT_CONNECT_TIMEOUT, settings.PAYMENT_READ_TIMEOUT),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            return None, {}, f"{type(exc).__name__}: {exc}"[:1000], latency, exc
        latency = int((time.monotonic() - started) * 1000)
        try:
            data = response.json()
            if not isinstance(data, dict):
                data = {"body": data}
        except ValueError:
            data = {"body": response.text[:2000]}
        return response.status_code, data, "", latency, None

    def _post(self, path: str, *, idempotency_key: str, body: dict, object_key: str) -> GatewayResult:
        status, data, error, latency, record, exc = self._request(
            "POST", path, idempotency_key=idempotency_key, body=body
        )
        common = {"status_code": status, "response": data, "latency_ms": latency, "request": record}
        if exc is not None:
            if isinstance(exc, CircuitOpen):
                return GatewayResult(Outcome.RETRYABLE, error_code=PaymentAttemptError.CIRCUIT_OPEN, error=error, **common)
            if isinstance(exc, requests.ConnectionError) and _sent_nothing(exc):
                return GatewayResult(Outcome.RETRYABLE, error_code=PaymentAttemptError.CONNECTION_FAILED, error=error, **common)
            if isinstance(exc, requests.Timeout):
                return GatewayResult(Outcome.UNKNOWN, error_code=PaymentAttemptError.TIMEOUT, error=error, **common)
            return GatewayResult(Outcome.UNKNOWN, error_code=PaymentAttemptError.CONNECTION_LOST, error=error, **common)
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        obj = data.get(object_key) if isinstance(data.get(object_key), dict) else data
        provider_id = str(obj.get("id", "")) if isinstance(obj, dict) else ""
        if 200 <= status < 300:
            if obj.get("status") == ProviderStatus.FAILED:
                code = obj.get("failure_code") or PaymentAttemptError.DECLINED
                return GatewayResult(Outcome.DECLINED, provider_id, error_code=code, error=code, **common)
            if obj.get("status") == ProviderStatus.SUCCEEDED and provider_id:
                return GatewayResult(Outcome.SUCCEEDED, provider_id, **common)
            # A 2xx that is not the provider's object (a proxy page, a wrong URL): it may have charged.
            return GatewayResult(
                Outcome.UNKNOWN, provider_id, error_code=PaymentAttemptError.INVALID_RESPONSE, error=f"HTTP {status}", **common
            )
        code = str(err.get("code", "")) or f"http_{status}"
        message = str(err.get("message", "")) or f"HTTP {status}"
        if _transient_refusal(status, code, path):
            return GatewayResult(Outcome.RETRYABLE, provider_id, error_code=code, error=message, **common)
        if 400 <= status < 500:
            return GatewayResult(Outcome.DECLINED, provider_id, error_code=code, error=message, **common)
        if status >= 500 and code == "processing_error":
            return GatewayResult(Outcome.RETRYABLE, provider_id, error_code=code, error=message, **common)
        return GatewayResult(Outcome.UNKNOWN, provider_id, error_code=code, error=message, **common)

    # --- protocol ---------------------------------------------------------------
    def charge(self, *, idempotency_key, amount, token, reference, description=""):
        if not _is_token(token):
            return _refused_token("v1/charges")
        body = {
            "amount": amount_str(amount),
            "currency": amount.currency.code,
            "token": token,
            "reference": reference,
            "description": description,
        }
        return self._post("v1/charges", idempotency_key=idempotency_key, body=body, object_key="charge")

    def get_charge(self, *, idempotency_key):
        """The charge made with `idempotency_key`: succeeded, declined, not_found, or unknown (no answer)."""
        return self._get_by_key("v1/charges", idempotency_key=idempotency_key)

    def refund(self, *, idempotency_key, charge_id, amount, reference):
        body = {
            "charge": charge_id,
            "amount": amount_str(amount),
            "currency": amount.currency.code,
            "reference": reference,
        }
        return self._post("v1/refunds", idempotency_key=idempotency_key, body=body, object_key="refund")

    def payout(self, *, idempotency_key, amount, token, reference):
        if not _is_token(token):
            return _refused_token("v1/payouts")
        body = {
            "amount": amount_str(amount),
            "currency": amount.currency.code,
            "token": token,
            "reference": reference,
        }
        return self._post("v1/payouts", idempotency_key=idempotency_key, body=body, object_key="payout")

    def get_payout(self, *, idempotency_key):
        """The payout made with `idempotency_key`: succeeded, declined, not_found, or unknown (no answer)."""
        return self._get_by_key("v1/payouts", idempotency_key=idempotency_key)

    def _get_by_key(self, path: str, *, idempotency_key: str) -> GatewayResult:
        """GET `path?idempotency_key=K` (a charge or a payout): only a 404 `not_found` means "none"."""
        status, data, error, latency, record, exc = self._request("GET", path, params={"idempotency_key": idempotency_key})
        common = {"status_code": status, "response": data, "latency_ms": latency, "request": record}
        if exc is not None:
            code = PaymentAttemptError.CIRCUIT_OPEN if isinstance(exc, CircuitOpen) else PaymentAttemptError.UNREACHABLE
            return GatewayResult(Outcome.UNKNOWN, error_code=code, error=error, **common)
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        provider_id = str(data.get("id", ""))
        if status == 200 and provider_id and data.get("status") == ProviderStatus.SUCCEEDED:
            return GatewayResult(Outcome.SUCCEEDED, provider_id, **common)
        if status == 200 and provider_id and data.get("status") == ProviderStatus.FAILED:
            code = data.get("failure_code") or PaymentAttemptError.DECLINED
            return GatewayResult(Outcome.DECLINED, provider_id, error_code=code, error=code, **common)
        if status == 200:
            return GatewayResult(Outcome.UNKNOWN, error_code=PaymentAttemptError.INVALID_RESPONSE, error="HTTP 200", **common)
        code = str(err.get("code", "")) or f"http_{status}"
        message = str(err.get("message", "")) or f"HTTP {status}"
        _log_credentials_refused(status, code, path)
        if status == 404 and code == "not_found":
            return GatewayResult(Outcome.NOT_FOUND, error_code=code, error=message, **common)
        return GatewayResult(Outcome.UNKNOWN, error_code=code, error=message, **common)

    def settlement_report(self, *, date):
        """The provider's report for one UTC day; raises GatewayError when it cannot be had."""
        status, data, error, _latency, _record, exc = self._request(
            "GET", "v1/settlements", params={"date": date.isoformat()}
        )
        if exc is not None or status != 200:
            raise GatewayError(detail=error or f"HTTP {status}", status=status)
        return data

    def settlement_page(self, *, date, type, cursor="", limit=1000):
        """A page of the day's report (`type`, `limit`, `starting_after`); raises GatewayError unless 200 + a list."""
        params = {"date": date.isoformat(), "type": type, "limit": limit}
        if cursor:
            params["starting_after"] = cursor
        status, data, error, _latency, _record, exc = self._request("GET", "v1/settlements", params=params)
        if exc is not None or status != 200 or not isinstance(data.get("data"), list):
            raise GatewayError(detail=error or f"HTTP {status}", status=status)
        return data


GATEWAYS = {"sandbox": "payments.gateway.HttpGateway"}

_instances: dict[str, Gateway] = {}
_instances_lock = threading.Lock()


def get_gateway() -> Gateway:
    """The configured provider's client (one per process; safe to share between threads)."""
    name = settings.PAYMENT_GATEWAY
    gateway = _instances.get(name)
    if gateway is None:
        with _instances_lock:
            gateway = _instances.get(name)
            if gateway is None:
                gateway = _instances[name] = import_string(GATEWAYS[name])()
    return gateway
