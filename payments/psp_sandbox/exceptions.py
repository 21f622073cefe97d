"""Errors the sandbox answers with, as `{"error": {"code", "message"}}` and the HTTP status."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import CoreErrorCode, ShopError, error_codes


@error_codes
class SandboxErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    INVALID_REQUEST = "invalid_request"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    INVALID_TOKEN = "invalid_token"
    PROCESSING_ERROR = "processing_error"
    CHARGE_NOT_REFUNDABLE = "charge_not_refundable"
    REFUND_EXCEEDS_CHARGE = "refund_exceeds_charge"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_TYPE = "invalid_type"
    INVALID_LIMIT = "invalid_limit"
    INVALID_JSON = "invalid_json"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_DATE = "invalid_date"
    NO_WEBHOOK_URL = "no_webhook_url"
    INVALID_CARD_TOKEN = "invalid_card_token"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    INVALID_CHARGE = "invalid_charge"
    INVALID_DESCRIPTION = "invalid_description"
    INVALID_REFERENCE = "invalid_reference"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INVALID_SECONDS = "invalid_seconds"


class SandboxError(ShopError):
    code = SandboxErrorCode.INVALID_REQUEST
    status_code = 400
    default_message = _("The request is invalid.")


class AuthenticationFailed(SandboxError):
    code = CoreErrorCode.AUTHENTICATION_FAILED
    status_code = 401
    default_message = _("Missing or invalid API key.")


class IdempotencyKeyRequired(SandboxError):
    code = SandboxErrorCode.IDEMPOTENCY_KEY_REQUIRED
    default_message = _("An Idempotency-Key header is required.")


class IdempotencyKeyReused(SandboxError):
    code = SandboxErrorCode.IDEMPOTENCY_KEY_REUSED
    status_code = 409
    default_message = _("This idempotency key was used with different parameters.")


class InvalidToken(SandboxError):
    code = SandboxErrorCode.INVALID_TOKEN
    default_message = _("Unknown card token. Only tokens are accepted, never card numbers.")


class ProcessingError(SandboxError):
    """A failure before anything was charged: the client may safely retry."""

    code = SandboxErrorCode.PROCESSING_ERROR
    status_code = 503
    default_message = _("The provider could not process the request. Nothing was charged.")


class ObjectNotFound(SandboxError):
    code = CoreErrorCode.NOT_FOUND
    status_code = 404
    default_message = _("No such object.")


class RefundNotPossible(SandboxError):
    code = SandboxErrorCode.CHARGE_NOT_REFUNDABLE
    default_message = _("This charge cannot be refunded.")


class RefundExceedsCharge(SandboxError):
    code = SandboxErrorCode.REFUND_EXCEEDS_CHARGE
    default_message = _("The refunds would exceed the charged amount.")


class ServiceUnavailable(SandboxError):
    """The sandbox's outage switch is on (services.outage_start): every call but the switch answers 503."""

    code = SandboxErrorCode.SERVICE_UNAVAILABLE
    status_code = 503
    default_message = _("The provider is down for maintenance.")
