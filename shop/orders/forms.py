from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.countries import country_choices
from accounts.exceptions import AddressInvalid
from accounts.selectors import addresses_for_user
from accounts.services import address_values_clean
from shop.orders.models import Order

CARD_TOKENS = [
    ("tok_ok", _("Test card: succeeds")),
    ("tok_declined", _("Test card: declined")),
    ("tok_insufficient", _("Test card: insufficient funds")),
    ("tok_timeout", _("Test card: provider times out")),
]


class AddressStepForm(forms.Form):
    """A saved address, or a new one typed in."""

    address = forms.ModelChoiceField(
        queryset=None, required=False, widget=forms.RadioSelect, empty_label=_("A new address"), label=_("Ship to")
    )
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    line1 = forms.CharField(label=_("Address line 1"), max_length=200, required=False)
    line2 = forms.CharField(label=_("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    region = forms.CharField(label=_("State or region"), max_length=100, required=False)
    country = forms.ChoiceField(label=_("Country"), choices=lambda: [("", "---------"), *country_choices()],
                                required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)

    NEW_REQUIRED = ("full_name", "line1", "city", "postal_code", "country")
    ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].queryset = addresses_for_user(user)

    def clean(self):
        data = super().clean()
        if data.get("address"):
            return data
        missing = [name for name in self.NEW_REQUIRED if not data.get(name)]
        for name in missing:
            self.add_error(name, _("This field is required for a new address."))
        if not missing and not self.errors:
            # The address book's own checks: a shop country, the postal code for that country.
            try:
                checked = address_values_clean({name: data.get(name) or "" for name in self.ADDRESS_FIELDS})
            except AddressInvalid as exc:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc.message))
            else:
                data.update(checked)
        return data

    def shipping_address(self):
        """What order_place takes: the saved address id or the new address as a dict."""
        if self.cleaned_data.get("address"):
            return self.cleaned_data["address"].pk
        return {name: self.cleaned_data.get(name, "") for name in self.ADDRESS_FIELDS}


class GuestAddressStepForm(AddressStepForm):
    """A guest's address step: the e-mail for the confirmation, and an address typed in (no address book)."""

    email = forms.EmailField(
        label=_("E-mail for your order confirmation"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    field_order = ["email"]

    def __init__(self, *args, **kwargs):
        kwargs.pop("user", None)
        super().__init__(*args, user=None, **kwargs)
        del self.fields["address"]


class PaymentStepForm(forms.Form):
    """Delivery and payment: a shipping method among those serving the address, and how to pay."""

    shipping_method = forms.TypedChoiceField(
        label=_("Delivery"), coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Choose a shipping method.")},
    )
    payment_method = forms.ChoiceField(
        label=_("Pay with"), choices=Order.PaymentMethod.choices, widget=forms.RadioSelect
    )
    card_token = forms.ChoiceField(label=_("Card"), choices=CARD_TOKENS, required=False)

    def __init__(self, *args, quotes=(), guest: bool = False, **kwargs):
        """`quotes`: the shipping quotes for the address and cart, each offered with its price and delivery time.
        A `guest` pays by card: a wallet belongs to an account."""
        super().__init__(*args, **kwargs)
        if guest:
            self.fields["payment_method"].choices = [(Order.PaymentMethod.CARD, Order.PaymentMethod.CARD.label)]
        self.fields["shipping_method"].choices = [
            (
                quote.method_id,
                _("%(name)s (%(carrier)s): %(price)s, %(min)d–%(max)d working days")
                % {"name": quote.name, "carrier": quote.carrier, "price": quote.price,
                   "min": quote.min_delivery_days, "max": quote.max_delivery_days},
            )
            for quote in quotes
        ]

    def clean(self):
        data = super().clean()
        if data.get("payment_method") == Order.PaymentMethod.CARD and not data.get("card_token"):
            self.add_error("card_token", _("Choose a card."))
        return data


class PlaceOrderForm(forms.Form):
    """The review page's "place order" button: its one-time token and the currency and total it showed."""

    token = forms.CharField(max_length=64)
    currency = forms.ChoiceField(choices=[(code, code) for code in settings.CURRENCIES])
    total = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0)


class ReturnForm(forms.Form):
    reason = forms.CharField(label=_("Why are you returning these items?"), max_length=500, widget=forms.Textarea)

    def __init__(self, *args, order, left: dict[int, int] | None = None, **kwargs):
        """`left`: per line id, the units not yet refunded nor waiting in a return request."""
        super().__init__(*args, **kwargs)
        left = left if left is not None else {line.id: line.returnable_quantity for line in order.lines.all()}
        self.order_lines = [line for line in order.lines.all() if left.get(line.id, 0) > 0]
        for line in self.order_lines:
            self.fields[f"line_{line.id}"] = forms.IntegerField(
                label=line.name, min_value=0, max_value=left[line.id], initial=0, required=False
            )

    def line_quantities(self) -> dict[int, int]:
        return {
            line.id: self.cleaned_data.get(f"line_{line.id}") or 0
            for line in self.order_lines
            if self.cleaned_data.get(f"line_{line.id}")
        }


class OrderFindForm(forms.Form):
    """"Find my order": the order number and the e-mail it was placed with."""

    number = forms.CharField(label=_("Order number"), max_length=32,
                             widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "SO-261207-ABCDEF"}))
    email = forms.EmailField(label=_("E-mail address used for the order"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
