"""The project-wide domain error. Every app's exceptions subclass it.

Each error carries a machine `code` (stable, for API clients), a human
message (translatable) and the HTTP status the API answers with.
"""

from django.utils.translation import gettext_lazy as _


class ShopError(Exception):
    code = "error"
    status_code = 400
    default_message = _("The request could not be completed.")

    def __init__(self, message=None, *, code: str | None = None, field: str | None = None, **extra):
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.field = field
        self.extra = extra
        super().__init__(str(self.message))

    def as_dict(self) -> dict:
        body = {"code": self.code, "detail": str(self.message)}
        if self.field:
            body["field"] = self.field
        body.update({k: v for k, v in self.extra.items() if v is not None})
        return body


class NotFound(ShopError):
    code = "not_found"
    status_code = 404
    default_message = _("Not found.")


class InvalidTransition(ShopError):
    code = "invalid_transition"
    status_code = 409
    default_message = _("This action is not possible in the object's current state.")


class Conflict(ShopError):
    code = "conflict"
    status_code = 409
