"""Forms of the wallet pages."""

import uuid
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from payments.exceptions import InvalidCardToken
from payments.selectors import card_token_check
from shop.core.money import AmountInvalid, amount_parse, minor_unit_quantum

SANDBOX_CARDS = [
    ("tok_ok", _("Test card: succeeds")),
    ("tok_slow", _("Test card: slow provider, succeeds")),
    ("tok_declined", _("Test card: declined")),
    ("tok_insufficient", _("Test card: insufficient funds")),
    ("tok_timeout", _("Test card: provider times out")),
    ("tok_flaky", _("Test card: flaky provider")),
    ("tok_error", _("Test card: provider error")),
    ("tok_payout_declined", _("Test card: succeeds, refuses payouts")),
    ("tok_payout_error", _("Test card: succeeds, payouts fail")),
]


def card_label(token: str) -> str:
    """How a card token is shown: the sandbox's description, else the token itself."""
    return str(dict(SANDBOX_CARDS).get(token) or _("Card %(token)s") % {"token": token})


class WalletOpenForm(forms.Form):
    currency = forms.ChoiceField(label=_("Currency"), choices=())

    def __init__(self, *args, available=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(code, code) for code in available]


class MoneyMovementForm(forms.Form):
    """Amount in the wallet's currency and a card token; the hidden key stops double submits.

    `cards`: the only tokens to offer (a withdrawal goes back to a card that
    funded the wallet). Without it, a deposit offers the sandbox's test cards,
    or a token field when the sandbox is off.
    """

    # Read by amount_parse, as the API reads it; the number input sends "12.50" whatever the locale.
    amount = forms.CharField(label=_("Amount"), strip=False, widget=forms.NumberInput)
    card_token = forms.ChoiceField(label=_("Card"), choices=SANDBOX_CARDS)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, currency: str, cards: list[str] | None = None, **kwargs):
        self.currency = currency
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        step = str(minor_unit_quantum(currency))
        self.fields["amount"].widget.attrs.update({"min": step, "step": step})
        if cards is not None:
            self.fields["card_token"].choices = [(token, card_label(token)) for token in cards]
        elif not settings.PSP_SANDBOX_ENABLED:
            self.fields["card_token"] = forms.CharField(
                label=_("Card token"), max_length=64, help_text=_("The token from the payment provider (tok_...).")
            )

    def clean_card_token(self):
        try:
            return card_token_check(self.cleaned_data["card_token"])
        except InvalidCardToken as exc:
            # Whatever was typed (a card number, perhaps) is not rendered back into the page.
            self.data = self.data.copy()
            self.data[self.add_prefix("card_token")] = ""
            raise forms.ValidationError(exc.message, code=exc.code)

    def clean_amount(self) -> Decimal:
        try:
            return amount_parse(self.cleaned_data["amount"], self.currency)
        except AmountInvalid as exc:
            raise forms.ValidationError(exc.message, code="invalid")


class StatementFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
