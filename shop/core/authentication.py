"""API authentication (kept apart from shop.core.api: DRF imports it while loading its views)."""

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """allauth's X-Session-Token, answering a missing or expired token with 401.

    DRF sends 401 (with WWW-Authenticate) only when the first authentication
    class names a scheme; without one, a mobile app could not tell "log in
    again" (401) from "not allowed" (403).
    """

    def authenticate_header(self, request) -> str:
        return 'Session-Token realm="api", header="X-Session-Token"'
