from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.countries import country_choices
from accounts.models import Address, User


class ProfileForm(forms.ModelForm):
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"),
        choices=[("", _("Same as the site"))] + list(settings.LANGUAGES),
        required=False,
    )

    class Meta:
        model = User
        fields = ["full_name", "preferred_language"]


class CountryField(forms.ChoiceField):
    """An ISO 3166-1 alpha-2 code of the shop's countries (named by django-countries), accepted in any case."""

    def to_python(self, value):
        return super().to_python(value).strip().upper()


class AddressForm(forms.ModelForm):
    country = CountryField(label=_("Country"), choices=lambda: [("", "---------"), *country_choices()])
    is_default_shipping = forms.BooleanField(label=_("Use as my default shipping address"), required=False)

    class Meta:
        model = Address
        fields = [
            "full_name",
            "line1",
            "line2",
            "postal_code",
            "city",
            "region",
            "country",
            "phone",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Not a model field of the form: the default flag is changed only by the
        # address services, which clear the previous default in the same transaction.
        if self.instance.pk:
            self.fields["is_default_shipping"].initial = self.instance.is_default_shipping


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account is erased for good: I am signed out everywhere and cannot sign in again."),
    )
