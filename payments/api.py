"""REST API of the payments app: wallets, deposits, withdrawals, payment status."""

from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors
from payments.exceptions import PaymentErrorCode
from payments.gateway import Outcome
from payments.idempotency import KEY_SCHEMA, idempotent
from payments.models import LedgerEntry, Payment, PaymentAttempt, Withdrawal
from payments.services.charges import payment_charge_card
from payments.services.payouts import wallet_withdraw
from payments.services.wallets import wallet_deposit, wallet_open
from shop.core.api import MoneyField, Pagination, paginated
from shop.core.schema import error_responses

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description="A fresh key per request (e.g. a UUID); a retry with the same key and body answers "
    "the first answer again and moves no money twice.",
)
_USD_10 = {"amount": "10.00", "currency": "USD"}
WALLET_EXAMPLE = {
    "id": 2,
    "currency": "USD",
    "balance": {"amount": "50.00", "currency": "USD"},
    "status": "active",
    "created_at": "2026-11-01T09:00:00Z",
}
PAYMENT_EXAMPLE = {
    "id": 17,
    "status": "succeeded",
    "purpose": "deposit",
    "method": "card",
    "reference": "dep-17",
    "amount": _USD_10,
    "refunded_amount": {"amount": "0.00", "currency": "USD"},
    "wallet": 2,
    "attempt_count": 1,
    "next_retry_at": None,
    "last_error_code": "",
    "created_at": "2026-11-30T10:15:00Z",
    "settled_at": "2026-11-30T10:15:01Z",
    "attempts": [
        {"id": 21, "kind": "charge", "outcome": "succeeded", "error_code": "",
         "message": "The payment provider accepted it.", "latency_ms": 120, "created_at": "2026-11-30T10:15:00Z"}
    ],
}
WITHDRAWAL_EXAMPLE = {
    "id": 4,
    "status": "succeeded",
    "wallet": 2,
    "amount": _USD_10,
    "attempt_count": 1,
    "last_error_code": "",
    "created_at": "2026-11-30T10:20:00Z",
}
_MOVEMENT_REQUEST = OpenApiExample("by card", value={"amount": _USD_10, "card_token": "tok_ok"}, request_only=True)
_WALLET_ID = OpenApiParameter("wallet_id", int, OpenApiParameter.PATH, description="The wallet's id.")


def _response_example(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^tok_[A-Za-z0-9_]{1,60}$",
        "description": "A card token from the payment provider; card numbers are refused (400 invalid_card_token).",
    }
)
class CardTokenField(serializers.CharField):
    """A provider card token; checked by selectors.card_token_check in the serializer's validate()."""

    def __init__(self, **kwargs):
        # Blank or overlong values reach card_token_check too, so every non-token gets its code.
        super().__init__(allow_blank=True, **kwargs)


class WalletOutput(serializers.Serializer):
    id = serializers.IntegerField()
    currency = serializers.CharField()
    balance = MoneyField(source="balance_money")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class WalletOpenInput(serializers.Serializer):
    currency = serializers.CharField(max_length=3)


class EntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(source="transaction.reference")
    kind = serializers.CharField(source="transaction.kind")
    description = serializers.CharField(source="transaction.description")
    amount = MoneyField(source="money")
    created_at = serializers.DateTimeField(source="transaction.created_at")


ATTEMPT_MESSAGES = {
    Outcome.SUCCEEDED: _("The payment provider accepted it."),
    Outcome.DECLINED: _("The payment provider refused it."),
    Outcome.RETRYABLE: _("The payment provider could not take it; nothing was charged. It is tried again automatically."),
    Outcome.UNKNOWN: _("The payment provider did not answer in time; the outcome is being checked with the provider."),
    Outcome.NOT_FOUND: _("The payment provider has no record of it yet."),
}
# Keyed by the provider's decline code (PaymentAttempt.error_code).
DECLINE_MESSAGES = {
    "card_declined": _("The card was declined."),
    "insufficient_funds": _("The card has insufficient funds."),
}


class AttemptOutput(serializers.Serializer):
    """One provider call as a customer may see it: no raw errors, URLs or provider bodies (admin has those)."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PaymentAttempt.Kind.choices)
    outcome = serializers.CharField()
    error_code = serializers.CharField()
    message = serializers.SerializerMethodField(help_text="What happened, in words for the customer.")
    latency_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_message(self, attempt) -> str:
        if attempt.outcome == Outcome.DECLINED and attempt.error_code in DECLINE_MESSAGES:
            return str(DECLINE_MESSAGES[attempt.error_code])
        return str(ATTEMPT_MESSAGES.get(attempt.outcome, ATTEMPT_MESSAGES[Outcome.UNKNOWN]))


class PaymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    purpose = serializers.CharField()
    method = serializers.CharField()
    reference = serializers.CharField()
    amount = MoneyField()
    refunded_amount = serializers.SerializerMethodField()
    wallet = serializers.IntegerField(source="wallet_id", allow_null=True)
    attempt_count = serializers.IntegerField()
    next_retry_at = serializers.DateTimeField(allow_null=True)
    last_error_code = serializers.CharField()
    created_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOutput(many=True)

    @extend_schema_field(MoneyField())
    def get_refunded_amount(self, payment) -> dict:
        return {"amount": str(payment.refunded_amount), "currency": payment.amount.currency.code}


class WithdrawalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    wallet = serializers.IntegerField(source="wallet_id")
    amount = MoneyField()
    attempt_count = serializers.IntegerField()
    last_error_code = serializers.CharField()
    created_at = serializers.DateTimeField()


class MoneyMovementInput(serializers.Serializer):
    amount = MoneyField()
    card_token = CardTokenField()

    def validate(self, attrs):
        # Raises InvalidCardToken (400 invalid_card_token, field card_token): a ShopError, so the
        # API answers with its own code rather than the generic "invalid".
        attrs["card_token"] = selectors.card_token_check(attrs["card_token"])
        return attrs


class WalletListApi(APIView):
    """GET: the caller's wallets. POST {currency}: open a wallet (verified e-mail required)."""

    @extend_schema(
        operation_id="wallet_list",
        responses=paginated(WalletOutput),
        summary="The caller's wallets",
        description="The caller's wallets, one per currency, with their balances; paginated.",
        examples=[_response_example("wallets", {"count": 1, "next": None, "previous": None, "results": [WALLET_EXAMPLE]})],
    )
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.wallet_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(WalletOutput(page, many=True).data)

    @extend_schema(
        operation_id="wallet_open",
        request=WalletOpenInput,
        responses={
            201: WalletOutput,
            **error_responses(
                codes={403: [PaymentErrorCode.EMAIL_NOT_VERIFIED], 409: [PaymentErrorCode.WALLET_EXISTS]}
            ),
        },
        summary="Open a wallet",
        description="Opens the caller's wallet in a currency (one per currency; a verified e-mail is required).",
        examples=[
            OpenApiExample("open", value={"currency": "USD"}, request_only=True),
            _response_example("opened", {**WALLET_EXAMPLE, "balance": {"amount": "0.00", "currency": "USD"}}, 201),
        ],
    )
    def post(self, request):
        serializer = WalletOpenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        wallet = wallet_open(user=request.user, currency=serializer.validated_data["currency"])
        return Response(WalletOutput(wallet).data, status=status.HTTP_201_CREATED)


class WalletDetailApi(APIView):
    """The caller's wallet with its balance."""

    @extend_schema(
        operation_id="wallet_get",
        parameters=[_WALLET_ID],
        responses=WalletOutput,
        summary="One wallet",
        description="One of the caller's wallets with its balance; another user's is a 404.",
        examples=[_response_example("wallet", WALLET_EXAMPLE)],
    )
    def get(self, request, wallet_id: int):
        wallet = selectors.wallet_get_for_user(user=request.user, wallet_id=wallet_id)
        return Response(WalletOutput(wallet).data)


class WalletTransactionsApi(GenericAPIView):
    """The wallet's statement, newest first; optional `from` / `to` dates (YYYY-MM-DD, inclusive)."""

    pagination_class = Pagination
    serializer_class = EntryOutput
    queryset = LedgerEntry.objects.none()  # for the schema only; get() reads through selectors

    @extend_schema(
        operation_id="wallet_statement",
        summary="A wallet's statement",
        description="The wallet's ledger entries, newest first, optionally between two days; paginated.",
        examples=[
            _response_example(
                "entry",
                {"id": 33, "reference": "dep-17", "kind": "deposit", "description": "Deposit by card",
                 "amount": _USD_10, "created_at": "2026-11-30T10:15:01Z"},
            )
        ],
        responses=EntryOutput(many=True),
        parameters=[
            _WALLET_ID,
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (YYYY-MM-DD), inclusive"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (YYYY-MM-DD), inclusive"),
        ],
    )
    def get(self, request, wallet_id: int):
        wallet = selectors.wallet_get_for_user(user=request.user, wallet_id=wallet_id)
        start, end = _date_range(request.query_params)
        entries = selectors.wallet_statement(wallet=wallet, start=start, end=end)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(EntryOutput(page, many=True).data)


class WalletDepositApi(APIView):
    """POST {amount, card_token} with an Idempotency-Key: top up the wallet by card.

    201 succeeded; 202 accepted while the outcome is processing/unknown;
    402 card_declined / insufficient_funds.
    """

    @extend_schema(
        operation_id="wallet_deposit",
        request=MoneyMovementInput,
        parameters=[_WALLET_ID, IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(PaymentOutput, description="The card was charged and the wallet credited."),
            202: OpenApiResponse(PaymentOutput, description="Accepted: the charge's outcome is being confirmed."),
            **error_responses(
                codes={
                    402: [PaymentErrorCode.CARD_DECLINED, PaymentErrorCode.INSUFFICIENT_FUNDS],
                    409: [
                        PaymentErrorCode.WALLET_CLOSED,
                        PaymentErrorCode.IDEMPOTENCY_KEY_REUSED,
                        PaymentErrorCode.REQUEST_IN_PROGRESS,
                    ],
                    503: [PaymentErrorCode.PROVIDER_UNAVAILABLE],
                }
            ),
        },
        summary="Top up a wallet by card",
        description="Charges the card and credits the wallet: 201 succeeded, 202 while the outcome is "
        "being confirmed (poll payment_get), 402 declined.",
        examples=[_MOVEMENT_REQUEST, _response_example("succeeded", PAYMENT_EXAMPLE, 201)],
    )
    @idempotent("wallet_deposit")
    def post(self, request, wallet_id: int):
        wallet = selectors.wallet_get_for_user(user=request.user, wallet_id=wallet_id)
        serializer = MoneyMovementInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment = wallet_deposit(
            wallet_id=wallet.pk,
            amount=data["amount"],
            card_token=data["card_token"],
            user=request.user,
            idempotency_claim=request.idempotency_claim,
        )
        return self.respond(request, payment)

    def idempotent_replay(self, request, payment):
        """A replay whose first request died after creating the payment: its charge is finished, never doubled."""
        # Charges only a payment still pending (the crash came before the charge), under its
        # row lock and with its own provider key; anything else is returned as it is.
        payment = payment_charge_card(payment_id=payment.pk)
        return self.respond(request, payment)

    def respond(self, request, payment):
        """201 succeeded, 402 declined, 202 while the outcome is pending/processing/unknown."""
        payment = selectors.payment_get_for_user(user=request.user, payment_id=payment.pk)
        body = PaymentOutput(payment).data
        if payment.status == Payment.Status.SUCCEEDED:
            return Response(body, status=status.HTTP_201_CREATED)
        if payment.status == Payment.Status.FAILED:
            code = (
                PaymentErrorCode.INSUFFICIENT_FUNDS
                if payment.last_error_code == PaymentErrorCode.INSUFFICIENT_FUNDS
                else PaymentErrorCode.CARD_DECLINED
            )
            return Response(
                {"code": str(code), "detail": str(_("The card payment was declined.")), "payment": body},
                status=status.HTTP_402_PAYMENT_REQUIRED,
            )
        return Response(body, status=status.HTTP_202_ACCEPTED)


class WalletWithdrawalApi(APIView):
    """POST {amount, card_token} with an Idempotency-Key: pay wallet money back to a card.

    201 paid out; 202 accepted while the payout is processing; 402
    insufficient_funds; 402 card_declined when the payout was refused (the
    wallet is credited back).
    """

    @extend_schema(
        operation_id="wallet_withdraw",
        request=MoneyMovementInput,
        parameters=[_WALLET_ID, IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(WithdrawalOutput, description="Paid out to the card."),
            202: OpenApiResponse(WithdrawalOutput, description="Accepted: the payout is being sent."),
            **error_responses(
                codes={
                    402: [PaymentErrorCode.INSUFFICIENT_FUNDS, PaymentErrorCode.CARD_DECLINED],
                    409: [
                        PaymentErrorCode.WALLET_CLOSED,
                        PaymentErrorCode.IDEMPOTENCY_KEY_REUSED,
                        PaymentErrorCode.REQUEST_IN_PROGRESS,
                    ],
                }
            ),
        },
        summary="Pay wallet money back to a card",
        description="Debits the wallet and pays out to the card: 201 paid out, 202 while the payout is "
        "being sent, 402 insufficient funds or refused (the wallet is credited back).",
        examples=[_MOVEMENT_REQUEST, _response_example("paid out", WITHDRAWAL_EXAMPLE, 201)],
    )
    @idempotent("wallet_withdrawal")
    def post(self, request, wallet_id: int):
        wallet = selectors.wallet_get_for_user(user=request.user, wallet_id=wallet_id)
        serializer = MoneyMovementInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        withdrawal = wallet_withdraw(
            wallet_id=wallet.pk,
            amount=data["amount"],
            card_token=data["card_token"],
            user=request.user,
            idempotency_claim=request.idempotency_claim,
        )
        return self.respond(request, withdrawal)

    def idempotent_replay(self, request, withdrawal):
        """A replay whose first request died after debiting: the withdrawal as it is now (the retry job sends it)."""
        return self.respond(request, withdrawal)

    def respond(self, request, withdrawal):
        """201 paid out, 402 refused (credited back), 202 while processing (the retry job re-sends it)."""
        withdrawal = selectors.withdrawal_get_for_user(user=request.user, withdrawal_id=withdrawal.pk)
        body = WithdrawalOutput(withdrawal).data
        if withdrawal.status == Withdrawal.Status.SUCCEEDED:
            return Response(body, status=status.HTTP_201_CREATED)
        if withdrawal.status == Withdrawal.Status.FAILED:
            return Response(
                {
                    "code": str(PaymentErrorCode.CARD_DECLINED),
                    "detail": str(_("The payout to the card was refused.")),
                    "withdrawal": body,
                },
                status=status.HTTP_402_PAYMENT_REQUIRED,
            )
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PaymentDetailApi(APIView):
    """The caller's payment: status and provider attempts (safe fields only; full detail is in admin)."""

    @extend_schema(
        operation_id="payment_get",
        parameters=[OpenApiParameter("payment_id", int, OpenApiParameter.PATH, description="The payment's id.")],
        responses=PaymentOutput,
        summary="One payment",
        description="One of the caller's payments with its status and provider attempts.",
        examples=[_response_example("payment", PAYMENT_EXAMPLE)],
    )
    def get(self, request, payment_id: int):
        payment = selectors.payment_get_for_user(user=request.user, payment_id=payment_id)
        return Response(PaymentOutput(payment).data)


def _date_range(params):
    values = []
    for name in ("from", "to"):
        if name not in params:
            values.append(None)
            continue
        try:
            value = parse_date(params[name])
        except ValueError:
            value = None
        if value is None:
            raise serializers.ValidationError({name: [_("Enter a date as YYYY-MM-DD.")]})
        values.append(value)
    return values[0], values[1]
