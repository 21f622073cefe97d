from django import forms
from django.utils.translation import gettext_lazy as _

from shop.cart.services import MAX_LINE_QUANTITY


class CartAddForm(forms.Form):
    product = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_LINE_QUANTITY, initial=1)


class CartQuantityForm(forms.Form):
    """0 removes the line."""

    quantity = forms.IntegerField(label=_("Quantity"), min_value=0, max_value=MAX_LINE_QUANTITY)
