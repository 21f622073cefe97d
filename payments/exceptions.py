"""Payment domain errors; each carries a stable machine `code` for API clients."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import CoreErrorCode, ShopError, error_codes


@error_codes
class PaymentErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    PAYMENT_ERROR = "payment_error"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_DECLINED = "card_declined"
    WALLET_NOT_FOUND = "wallet_not_found"
    WALLET_CLOSED = "wallet_closed"
    WALLET_EXISTS = "wallet_exists"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    UNSUPPORTED_CURRENCY = "unsupported_currency"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_AMOUNT = "invalid_amount"
    DEPOSIT_LIMIT_EXCEEDED = "deposit_limit_exceeded"
    WITHDRAWAL_CARD_NOT_ALLOWED = "withdrawal_card_not_allowed"
    UNBALANCED_TRANSACTION = "unbalanced_transaction"
    LEDGER_REFERENCE_CONFLICT = "ledger_reference_conflict"
    REFUND_NOT_ALLOWED = "refund_not_allowed"
    REFUND_FAILED = "refund_failed"
    INVALID_CARD_TOKEN = "invalid_card_token"
    PAYMENT_IN_PROGRESS = "payment_in_progress"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_TOO_LONG = "idempotency_key_too_long"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    REQUEST_IN_PROGRESS = "request_in_progress"
    INVALID_SIGNATURE = "invalid_signature"
    WALLET_HAS_PENDING_PAYMENTS = "wallet_has_pending_payments"
    WALLET_NOT_EMPTY = "wallet_not_empty"
    PAYMENT_REFUSED = "payment_refused"
    REASON_REQUIRED = "reason_required"
    RECONCILIATION_RUNNING = "reconciliation_running"
    GATEWAY_ERROR = "gateway_error"
    PAYMENT_FAILED = "payment_failed"
    GIFT_CARD_INVALID = "gift_card_invalid"
    GIFT_CARD_INSUFFICIENT = "gift_card_insufficient"
    PROVIDER_UNAVAILABLE = "provider_unavailable"


class PaymentError(ShopError):
    code = PaymentErrorCode.PAYMENT_ERROR
    status_code = 400
    default_message = _("The payment could not be completed.")


class InsufficientFunds(PaymentError):
    code = PaymentErrorCode.INSUFFICIENT_FUNDS
    status_code = 402
    default_message = _("The wallet balance is too low for this amount.")


class CardDeclined(PaymentError):
    code = PaymentErrorCode.CARD_DECLINED
    status_code = 402
    default_message = _("The card was declined.")


class WalletNotFound(PaymentError):
    code = PaymentErrorCode.WALLET_NOT_FOUND
    status_code = 404
    default_message = _("No wallet found.")


class WalletClosed(PaymentError):
    code = PaymentErrorCode.WALLET_CLOSED
    status_code = 409
    default_message = _("This wallet is closed.")


class WalletExists(PaymentError):
    code = PaymentErrorCode.WALLET_EXISTS
    status_code = 409
    default_message = _("You already have a wallet in this currency.")


class EmailNotVerified(PaymentError):
    code = PaymentErrorCode.EMAIL_NOT_VERIFIED
    status_code = 403
    default_message = _("Please verify your e-mail address first.")


class UnsupportedCurrency(PaymentError):
    code = PaymentErrorCode.UNSUPPORTED_CURRENCY
    status_code = 400
    default_message = _("This currency is not supported.")


class CurrencyMismatch(PaymentError):
    code = PaymentErrorCode.CURRENCY_MISMATCH
    status_code = 400
    default_message = _("The amount's currency does not match the wallet's.")


class InvalidAmount(PaymentError):
    code = PaymentErrorCode.INVALID_AMOUNT
    status_code = 400
    default_message = _("The amount must be positive and use the currency's minor units.")


class DepositLimitExceeded(PaymentError):
    code = PaymentErrorCode.DEPOSIT_LIMIT_EXCEEDED
    status_code = 400
    default_message = _("This is more than a single deposit may be.")


class WithdrawalCardNotAllowed(PaymentError):
    code = PaymentErrorCode.WITHDRAWAL_CARD_NOT_ALLOWED
    status_code = 400
    default_message = _("Money can only be paid back to a card that topped up this wallet.")


class UnbalancedTransaction(PaymentError):
    code = PaymentErrorCode.UNBALANCED_TRANSACTION
    status_code = 500
    default_message = _("A ledger transaction must sum to zero in every currency.")


class LedgerReferenceConflict(PaymentError):
    """A reference was posted again with other legs: a programming error, never a replay."""

    code = PaymentErrorCode.LEDGER_REFERENCE_CONFLICT
    status_code = 500
    default_message = _("This ledger reference was already posted with different amounts or accounts.")


class RefundNotAllowed(PaymentError):
    code = PaymentErrorCode.REFUND_NOT_ALLOWED
    status_code = 409
    default_message = _("This payment cannot be refunded by that amount.")


class RefundFailed(PaymentError):
    code = PaymentErrorCode.REFUND_FAILED
    status_code = 502
    default_message = _("The payment provider refused the refund.")


class InvalidCardToken(PaymentError):
    code = PaymentErrorCode.INVALID_CARD_TOKEN
    status_code = 400
    default_message = _(
        "Enter a card token from the payment provider (tok_...); card numbers are never accepted."
    )


class PaymentInProgress(PaymentError):
    code = PaymentErrorCode.PAYMENT_IN_PROGRESS
    status_code = 409
    default_message = _("This payment has been sent to the provider; its outcome is being confirmed.")


class PaymentNotFound(PaymentError):
    code = CoreErrorCode.NOT_FOUND
    status_code = 404
    default_message = _("Payment not found.")


class IdempotencyKeyRequired(ShopError):
    code = PaymentErrorCode.IDEMPOTENCY_KEY_REQUIRED
    status_code = 400
    default_message = _("This request needs an Idempotency-Key header.")


class IdempotencyKeyTooLong(ShopError):
    code = PaymentErrorCode.IDEMPOTENCY_KEY_TOO_LONG
    status_code = 400
    default_message = _("The Idempotency-Key header is longer than 255 characters.")


class IdempotencyKeyReused(ShopError):
    code = PaymentErrorCode.IDEMPOTENCY_KEY_REUSED
    status_code = 409
    default_message = _("This Idempotency-Key was already used with a different request.")


class RequestInProgress(ShopError):
    code = PaymentErrorCode.REQUEST_IN_PROGRESS
    status_code = 409
    default_message = _("A request with this Idempotency-Key is still in progress.")


class WebhookSignatureInvalid(ShopError):
    code = PaymentErrorCode.INVALID_SIGNATURE
    status_code = 400
    default_message = _("The webhook signature is missing, invalid or too old.")


class PaymentRefused(PaymentError):
    code = PaymentErrorCode.PAYMENT_REFUSED
    status_code = 402
    default_message = _("This payment was refused by our fraud checks. Please contact support.")


class ReasonRequired(PaymentError):
    code = PaymentErrorCode.REASON_REQUIRED
    status_code = 400
    default_message = _("Say why: a reason is required.")


class ReconciliationRunning(PaymentError):
    code = PaymentErrorCode.RECONCILIATION_RUNNING
    status_code = 409
    default_message = _("A reconciliation of this day is already running.")


class GatewayError(PaymentError):
    """The provider could not answer a read (e.g. the settlement report)."""

    code = PaymentErrorCode.GATEWAY_ERROR
    status_code = 502
    default_message = _("The payment provider could not be reached.")


class GiftCardInvalid(PaymentError):
    """Unknown code, switched off, expired, or in another currency: one answer, so codes cannot be probed."""

    code = PaymentErrorCode.GIFT_CARD_INVALID
    status_code = 400
    default_message = _("This gift card code is not valid.")


class GiftCardInsufficient(PaymentError):
    code = PaymentErrorCode.GIFT_CARD_INSUFFICIENT
    status_code = 402
    default_message = _("The gift card's balance is too low for this amount.")


class ProviderUnavailable(PaymentError):
    """The provider's circuit breaker is open (payments.breaker): nothing was reserved or charged."""

    code = PaymentErrorCode.PROVIDER_UNAVAILABLE
    status_code = 503
    default_message = _(
        "Card payments are unavailable for a moment: the payment provider is not answering. "
        "Nothing was charged; please try again shortly or pay from your wallet."
    )

    def __init__(self, message=None, *, retry_after: int = 30, **extra):
        super().__init__(message, retry_after=retry_after, **extra)

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.extra["retry_after"])}
