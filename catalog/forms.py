from django import forms
from django.utils.translation import gettext_lazy as _


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[(i, "★" * i) for i in range(5, 0, -1)],
        coerce=int,
    )
    title = forms.CharField(label=_("Title"), max_length=120, required=False)
    body = forms.CharField(label=_("Your review"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 4}))


class RestockForm(forms.Form):
    quantity = forms.IntegerField(label=_("Units to add"), min_value=1, max_value=1_000_000)
    reason = forms.CharField(label=_("Reason"), max_length=255, initial=_("delivery"))
    reference = forms.CharField(label=_("Reference"), max_length=64, required=False)


class ProductImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Change of units on hand"), min_value=-1_000_000, max_value=1_000_000,
        help_text=_("negative to take units off (stocktake, damage)"),
    )
    reason = forms.CharField(label=_("Reason"), max_length=255)
    reference = forms.CharField(label=_("Reference"), max_length=64, required=False)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("Enter a change other than 0."))
        return delta


class StockTransferForm(forms.Form):
    to_warehouse = forms.ModelChoiceField(label=_("To warehouse"), queryset=None)
    quantity = forms.IntegerField(label=_("Units to move"), min_value=1, max_value=1_000_000)
    reason = forms.CharField(label=_("Reason"), max_length=255, initial=_("rebalance"))
    reference = forms.CharField(label=_("Reference"), max_length=64, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from catalog.models import Warehouse

        self.fields["to_warehouse"].queryset = Warehouse.objects.all()
