"""Project-level views: health check, currency switcher, error pages."""

import hmac
import os
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST

from payments.breaker import breaker_status
from shop.core.csp import csp_allow_own_styles
from shop.core.exceptions import CoreErrorCode
from shop.core.metrics import metrics_text
from shop.core.money import SESSION_CURRENCY_KEY


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    key = f"healthz:{time.monotonic_ns()}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)
    return "ok"


def _check_broker() -> str:
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("memory://"):
        return "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "memory"
    if broker.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]
        if not os.access(folder, os.W_OK):
            raise OSError(f"the embedded broker's folder {folder} is not writable")
        return "ok"
    import redis

    client = redis.Redis.from_url(broker, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _provider_breaker() -> dict:
    """The payment provider's circuit breaker: reported, never a reason for a 503 (the shop still serves)."""
    try:
        status = breaker_status()
    except Exception as exc:  # the cache is down: the cache check says so
        return {"status": "unknown", "error": exc.__class__.__name__}
    return {"status": status.pop("state"), **status}


@never_cache
@require_GET
def healthz(request):
    """200 when database, cache and broker answer; 503 naming the one that does not.

    The provider's circuit breaker is reported too (`provider_breaker`: closed,
    open or half_open), but an open breaker keeps the answer 200: wallet
    payments and everything else still work.
    """
    checks = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
    results, healthy = {}, True
    for name, check in checks.items():
        try:
            results[name] = {"status": check()}
        except Exception as exc:  # any failure of a dependency is "down", reported by name
            healthy = False
            results[name] = {"status": "down", "error": exc.__class__.__name__}
    results["provider_breaker"] = _provider_breaker()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )


@never_cache
@require_GET
def metrics(request):
    """Prometheus metrics, for `Authorization: Bearer <METRICS_TOKEN>` only.

    404 while METRICS_TOKEN is unset (the endpoint does not exist); 401 with
    `WWW-Authenticate: Bearer` without a bearer token; 403 for a wrong one.
    """
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        response = HttpResponse("bearer token required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return HttpResponse("wrong token\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


@require_POST
def currency_set(request):
    """Remember the shopper's display/checkout currency in the session."""
    currency = request.POST.get("currency", "")
    if currency in settings.CURRENCIES:
        request.session[SESSION_CURRENCY_KEY] = currency
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = "/"
    return HttpResponseRedirect(target)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    if _is_api(request):  # API clients get the JSON error shape, not a page
        return JsonResponse({"code": str(CoreErrorCode.NOT_FOUND), "detail": str(_("Not found."))}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"code": str(CoreErrorCode.SERVER_ERROR), "detail": str(_("Server error."))}, status=500)
    # Self-contained (static files may be what failed): its <style> is allowed by hash.
    return csp_allow_own_styles(render(request, "500.html", status=500))
