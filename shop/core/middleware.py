"""The request's id, its metrics and its access log line, for every request the shop answers."""

import time

import structlog
from django.db import connection
from django.utils.functional import empty

from shop.core.logs import request_id_from
from shop.core.metrics import HTTP_DB_QUERIES, HTTP_LATENCY, HTTP_REQUESTS

logger = structlog.get_logger("shop.request")

UNMATCHED = "unmatched"


class _QueryCounter:
    """A `connection.execute_wrapper` that counts the queries it sees."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _route(request) -> str:
    """The URL pattern's name (`payments_api:wallet_deposits`), never the raw path (ids would explode the labels)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.view_name or match.route or UNMATCHED


def _user_id(request) -> int | None:
    """The signed-in user's id, if the request has looked the user up already (no query of its own)."""
    user = getattr(request, "user", None)
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


class RequestObservabilityMiddleware:
    """Put it first. Binds the request id (from `X-Request-ID`, or made) to every log line of the request
    and returns it in the `X-Request-ID` header; counts the request, its latency and its database queries
    by route and status; logs one line when it is answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        counter = _QueryCounter()
        started = time.monotonic()
        try:
            with connection.execute_wrapper(counter):
                response = self.get_response(request)
            elapsed = time.monotonic() - started
            route = _route(request)
            HTTP_REQUESTS.labels(method=request.method, route=route, status=str(response.status_code)).inc()
            HTTP_LATENCY.labels(method=request.method, route=route).observe(elapsed)
            HTTP_DB_QUERIES.labels(route=route).observe(counter.count)
            response["X-Request-ID"] = request_id
            logger.info(
                "request",
                method=request.method,
                path=request.path,
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 1),
                db_queries=counter.count,
                user_id=_user_id(request),
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()
