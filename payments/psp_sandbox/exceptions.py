"""Errors the sandbox answers with, as `{"error": {"code", "message"}}` and the HTTP status."""

from django.utils.translation import gettext_lazy as _

from shop.exceptions import ShopError


class SandboxError(ShopError):
    code = "invalid_request"
    status_code = 400
    default_message = _("The request is invalid.")


class AuthenticationFailed(SandboxError):
    code = "authentication_failed"
    status_code = 401
    default_message = _("Missing or invalid API key.")


class IdempotencyKeyRequired(SandboxError):
    code = "idempotency_key_required"
    default_message = _("An Idempotency-Key header is required.")


class IdempotencyKeyReused(SandboxError):
    code = "idempotency_key_reused"
    status_code = 409
    default_message = _("This idempotency key was used with different parameters.")


class InvalidToken(SandboxError):
    code = "invalid_token"
    default_message = _("Unknown card token. Only tokens are accepted, never card numbers.")


class ProcessingError(SandboxError):
    """A failure before anything was charged: the client may safely retry."""

    code = "processing_error"
    status_code = 503
    default_message = _("The provider could not process the request. Nothing was charged.")


class ObjectNotFound(SandboxError):
    code = "not_found"
    status_code = 404
    default_message = _("No such object.")


class RefundNotPossible(SandboxError):
    code = "charge_not_refundable"
    default_message = _("This charge cannot be refunded.")


class RefundExceedsCharge(SandboxError):
    code = "refund_exceeds_charge"
    default_message = _("The refunds would exceed the charged amount.")
