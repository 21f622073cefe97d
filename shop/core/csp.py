"""The Content-Security-Policy (django-csp): one strict policy, and the two places that relax it.

The shop's pages load scripts and styles only from the shop itself: no
inline script, no inline style, nothing from another origin (the policy is
`CONTENT_SECURITY_POLICY` in settings). Django's admin and the Swagger UI
page (`CSP_INLINE_STYLE_PATHS`) ship inline `<style>` blocks of their own,
so there, and only for styles, 'unsafe-inline' is added; scripts stay
strict everywhere. A page that must stay self-contained (the 500 page, which
cannot count on static files) allows its own `<style>` blocks by hash.
"""

import base64
import hashlib
import re

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def style_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-...') allowing exactly the `<style>` blocks of `html`."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
        for block in _STYLE_BLOCK.findall(html)
    ]


def csp_allow_own_styles(response):
    """Let `response`'s own inline `<style>` blocks apply (by hash) under the strict policy."""
    hashes = style_hashes(response.content.decode(response.charset or "utf-8"))
    if hashes:
        response._csp_update = {"style-src": hashes}
    return response


class ShopCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with inline styles allowed on the paths of CSP_INLINE_STYLE_PATHS."""

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if parts.update is None and request.path_info.startswith(tuple(settings.CSP_INLINE_STYLE_PATHS)):
            parts.update = {"style-src": ["'unsafe-inline'"]}
        return parts
