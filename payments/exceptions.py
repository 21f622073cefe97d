"""Payment domain errors; each carries a stable machine `code` for API clients."""

from django.utils.translation import gettext_lazy as _

from shop.exceptions import ShopError


class PaymentError(ShopError):
    code = "payment_error"
    status_code = 400
    default_message = _("The payment could not be completed.")


class InsufficientFunds(PaymentError):
    code = "insufficient_funds"
    status_code = 402
    default_message = _("The wallet balance is too low for this amount.")


class CardDeclined(PaymentError):
    code = "card_declined"
    status_code = 402
    default_message = _("The card was declined.")


class WalletNotFound(PaymentError):
    code = "wallet_not_found"
    status_code = 404
    default_message = _("No wallet found.")


class WalletClosed(PaymentError):
    code = "wallet_closed"
    status_code = 409
    default_message = _("This wallet is closed.")


class WalletExists(PaymentError):
    code = "wallet_exists"
    status_code = 409
    default_message = _("You already have a wallet in this currency.")


class EmailNotVerified(PaymentError):
    code = "email_not_verified"
    status_code = 403
    default_message = _("Please verify your e-mail address first.")


class UnsupportedCurrency(PaymentError):
    code = "unsupported_currency"
    status_code = 400
    default_message = _("This currency is not supported.")


class CurrencyMismatch(PaymentError):
    code = "currency_mismatch"
    status_code = 400
    default_message = _("The amount's currency does not match the wallet's.")


class InvalidAmount(PaymentError):
    code = "invalid_amount"
    status_code = 400
    default_message = _("The amount must be positive and use the currency's minor units.")


class DepositLimitExceeded(PaymentError):
    code = "deposit_limit_exceeded"
    status_code = 400
    default_message = _("This is more than a single deposit may be.")


class WithdrawalCardNotAllowed(PaymentError):
    code = "withdrawal_card_not_allowed"
    status_code = 400
    default_message = _("Money can only be paid back to a card that topped up this wallet.")


class UnbalancedTransaction(PaymentError):
    code = "unbalanced_transaction"
    status_code = 500
    default_message = _("A ledger transaction must sum to zero in every currency.")


class LedgerReferenceConflict(PaymentError):
    """A reference was posted again with other legs: a programming error, never a replay."""

    code = "ledger_reference_conflict"
    status_code = 500
    default_message = _("This ledger reference was already posted with different amounts or accounts.")


class RefundNotAllowed(PaymentError):
    code = "refund_not_allowed"
    status_code = 409
    default_message = _("This payment cannot be refunded by that amount.")


class RefundFailed(PaymentError):
    code = "refund_failed"
    status_code = 502
    default_message = _("The payment provider refused the refund.")


class InvalidCardToken(PaymentError):
    code = "invalid_card_token"
    status_code = 400
    default_message = _("Enter a card token from the payment provider (tok_...); card numbers are never accepted.")


class PaymentInProgress(PaymentError):
    code = "payment_in_progress"
    status_code = 409
    default_message = _("This payment has been sent to the provider; its outcome is being confirmed.")


class PaymentNotFound(PaymentError):
    code = "not_found"
    status_code = 404
    default_message = _("Payment not found.")


class IdempotencyKeyRequired(ShopError):
    code = "idempotency_key_required"
    status_code = 400
    default_message = _("This request needs an Idempotency-Key header.")


class IdempotencyKeyReused(ShopError):
    code = "idempotency_key_reused"
    status_code = 409
    default_message = _("This Idempotency-Key was already used with a different request.")


class RequestInProgress(ShopError):
    code = "request_in_progress"
    status_code = 409
    default_message = _("A request with this Idempotency-Key is still in progress.")


class WebhookSignatureInvalid(ShopError):
    code = "invalid_signature"
    status_code = 400
    default_message = _("The webhook signature is missing, invalid or too old.")
