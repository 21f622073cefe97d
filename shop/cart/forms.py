from django import forms
from django.utils.translation import gettext_lazy as _

from shop.cart.services import DB_ID_MAX, MAX_LINE_QUANTITY


class CartAddForm(forms.Form):
    product = forms.IntegerField(
        label=_("Product"), min_value=1, max_value=DB_ID_MAX, widget=forms.HiddenInput,
        error_messages={"min_value": _("This product is not available."), "max_value": _("This product is not available.")},
    )
    variant = forms.IntegerField(
        label=_("Variant"), min_value=1, max_value=DB_ID_MAX, required=False, widget=forms.HiddenInput,
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_LINE_QUANTITY, initial=1)


class CartQuantityForm(forms.Form):
    """0 removes the line."""

    quantity = forms.IntegerField(label=_("Quantity"), min_value=0, max_value=MAX_LINE_QUANTITY)
    variant = forms.IntegerField(min_value=1, max_value=DB_ID_MAX, required=False, widget=forms.HiddenInput)


class CartVariantForm(forms.Form):
    """Which variant of the product a line change is about (none: the product's lines)."""

    variant = forms.IntegerField(min_value=1, max_value=DB_ID_MAX, required=False, widget=forms.HiddenInput)


class CartVoucherForm(forms.Form):
    code = forms.CharField(label=_("Voucher code"), max_length=40)


class CartGiftCardForm(forms.Form):
    code = forms.CharField(
        label=_("Gift card code"), max_length=40, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "gift-card-%s")  # the voucher form beside it has a `code` too
        super().__init__(*args, **kwargs)
