"""The project-wide domain error and the registry of machine error codes.

Each error carries a machine `code` (stable, for API clients), a human
message (translatable) and the HTTP status the API answers with.

Every code is a member of a `TextChoices` enum registered with
`@error_codes`: the core's `CoreErrorCode` below and one enum per app in the
app's `exceptions.py`. A raise names a member, never a fresh string
(`ShopError` refuses one); `error_code_values()` is what the OpenAPI schema
publishes as the enum of the error body's `code`, and docs/interfaces.md
lists them (tests/test_architecture.py keeps the two in step).
"""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

_registry: list[type[TextChoices]] = []


def error_codes(enum: type[TextChoices]) -> type[TextChoices]:
    """Register an enum of machine error codes (a class decorator)."""
    if enum not in _registry:
        _registry.append(enum)
    return enum


def error_code_enums() -> tuple[type[TextChoices], ...]:
    return tuple(_registry)


def error_code_values() -> list[str]:
    """Every registered machine code, sorted: the enum of the API error body's `code`."""
    return sorted({member.value for enum in _registry for member in enum})


def _is_registered(code) -> bool:
    return any(isinstance(code, enum) for enum in _registry)


@error_codes
class CoreErrorCode(TextChoices):
    """Codes the API plumbing answers with, whatever the app."""

    ERROR = "error", _("Something went wrong.")
    INVALID = "invalid", _("Invalid input.")
    PARSE_ERROR = "parse_error", _("The body could not be parsed.")
    NOT_AUTHENTICATED = "not_authenticated", _("Not signed in.")
    AUTHENTICATION_FAILED = "authentication_failed", _("Sign-in failed.")
    PERMISSION_DENIED = "permission_denied", _("Not allowed.")
    NOT_FOUND = "not_found", _("Not found.")
    METHOD_NOT_ALLOWED = "method_not_allowed", _("Method not allowed.")
    NOT_ACCEPTABLE = "not_acceptable", _("Not acceptable.")
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", _("Unsupported media type.")
    THROTTLED = "throttled", _("Too many requests.")
    CONFLICT = "conflict", _("Conflict.")
    INVALID_TRANSITION = "invalid_transition", _("Not possible in the current state.")
    SERVER_ERROR = "server_error", _("Server error.")


class ShopError(Exception):
    code = CoreErrorCode.ERROR
    status_code = 400
    default_message = _("The request could not be completed.")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not _is_registered(cls.code):
            raise TypeError(
                f"{cls.__name__}.code must be a member of a registered error-code enum, not {cls.code!r}"
            )

    def __init__(self, message=None, *, code=None, field: str | None = None, **extra):
        self.message = message if message is not None else self.default_message
        if code is not None:
            if not _is_registered(code):
                raise TypeError(f"error code {code!r} is not a member of a registered error-code enum")
            self.code = code
        self.field = field
        self.extra = extra
        super().__init__(str(self.message))

    def response_headers(self) -> dict[str, str]:
        """HTTP headers the API answer carries (e.g. Retry-After); none by default."""
        return {}

    def as_dict(self) -> dict:
        body = {"code": str(self.code), "detail": str(self.message)}
        if self.field:
            body["field"] = self.field
        body.update({k: v for k, v in self.extra.items() if v is not None})
        return body


class NotFound(ShopError):
    code = CoreErrorCode.NOT_FOUND
    status_code = 404
    default_message = _("Not found.")


class InvalidTransition(ShopError):
    code = CoreErrorCode.INVALID_TRANSITION
    status_code = 409
    default_message = _("This action is not possible in the object's current state.")


class Conflict(ShopError):
    code = CoreErrorCode.CONFLICT
    status_code = 409
