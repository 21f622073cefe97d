"""The JSON edges of the API: bodies no parser can choke on, and JSON answers for every /api/ error.

`JsonGuardMiddleware` reads a JSON body once before any view does and
answers 400 when it is not JSON or is nested deeper than `JSON_MAX_DEPTH`:
Python's parser recurses once per level, so ~1,000 levels in a 2 KB body
would otherwise end in a RecursionError (a 500) inside DRF or allauth.
It covers the shop's API (`/api/`, bodies sent as JSON) and allauth's
headless API (`/_allauth/`, which parses every non-GET body as JSON).

`ApiErrorsAsJsonMiddleware` turns any non-JSON error answer under `/api/`
(Django's 404 and 500 pages, with or without DEBUG, a 400 for a body too
large) into the API's `{"code", "detail"}` shape.
"""

import json
import re

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import CoreErrorCode

API_PREFIX = "/api/"
HEADLESS_PREFIX = "/_allauth/"
JSON_MAX_DEPTH = 64

# A JSON string (escapes included) or one bracket: what the depth count looks at.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")


def json_depth_exceeds(body: bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether `body` nests arrays/objects deeper than `limit`, counted without recursion.

    Brackets inside strings do not count. On a body that is not valid JSON
    the count can only be higher than a parser would reach, never lower.
    """
    depth = 0
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token[0] in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif token[0] != ord('"'):
            depth -= 1
    return False


def json_body_problem(body: bytes) -> str | None:
    """Why `body` is no acceptable JSON document (a message), or None when it is one."""
    if json_depth_exceeds(body):
        return str(_("The JSON body is nested more than %(limit)s levels deep.") % {"limit": JSON_MAX_DEPTH})
    try:
        json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, integers past Python's digit limit
        return str(_("The body is not valid JSON."))
    return None


def _is_json_content_type(request) -> bool:
    content_type = request.content_type or ""
    return content_type == "application/json" or content_type.endswith("+json")


def _guarded(request) -> bool:
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return False
    if request.path_info.startswith(HEADLESS_PREFIX):
        return True
    return request.path_info.startswith(API_PREFIX) and _is_json_content_type(request)


def _refusal(request, message: str) -> JsonResponse:
    """400 in the dialect of the API asked: allauth's {status, errors} or the shop's {code, detail}."""
    if request.path_info.startswith(HEADLESS_PREFIX):
        body = {"status": 400, "errors": [{"code": str(CoreErrorCode.INVALID), "message": message}]}
    else:
        body = {"code": str(CoreErrorCode.PARSE_ERROR), "detail": message}
    return JsonResponse(body, status=400)


class JsonGuardMiddleware:
    """Refuses (400) an API body that is not JSON or is nested too deep, before any view parses it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _guarded(request):
            body = request.body
            problem = json_body_problem(body) if body else None
            if problem:
                return _refusal(request, problem)
        return self.get_response(request)


_STATUS_CODES = {
    400: CoreErrorCode.INVALID,
    401: CoreErrorCode.NOT_AUTHENTICATED,
    403: CoreErrorCode.PERMISSION_DENIED,
    404: CoreErrorCode.NOT_FOUND,
    405: CoreErrorCode.METHOD_NOT_ALLOWED,
    406: CoreErrorCode.NOT_ACCEPTABLE,
    415: CoreErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: CoreErrorCode.THROTTLED,
}


def api_error_body(status: int) -> dict:
    """The API's error body for a bare HTTP status."""
    if status >= 500:
        return {"code": str(CoreErrorCode.SERVER_ERROR), "detail": str(_("Server error."))}
    code = _STATUS_CODES.get(status, CoreErrorCode.ERROR)
    return {"code": str(code), "detail": str(code.label)}


class ApiErrorsAsJsonMiddleware:
    """Under /api/, an error answer that is not JSON (a Django page, DEBUG's too) becomes the JSON error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path_info.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.streaming
            and "json" not in response.get("Content-Type", "")
        ):
            replacement = JsonResponse(api_error_body(response.status_code), status=response.status_code)
            for header in ("Allow", "Retry-After"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response
