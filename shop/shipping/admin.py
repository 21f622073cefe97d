"""Staff manage carriers, zones and methods here; carrier events are a read-only record.

Row checks live in the models' `clean()` (shown as form errors); checks that need
the method and its rows together (a flat method needs its flat price, bands
belong to by-weight methods only) live in the inline formsets below.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.countries import country_choices
from shop.shipping.models import (
    Carrier,
    CarrierEvent,
    ShippingMethod,
    ShippingMethodPrice,
    ShippingZone,
    WeightBand,
)


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "is_active", "webhook_configured"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ["is_active"]
    search_fields = ["name", "code"]

    @admin.display(boolean=True, description=_("webhook secret set"))
    def webhook_configured(self, obj):
        return bool(settings.CARRIER_WEBHOOK_SECRETS.get(obj.code))


class ShippingZoneForm(forms.ModelForm):
    countries = forms.MultipleChoiceField(
        label=_("Countries"), choices=country_choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ShippingZone
        fields = ["name", "countries"]


@admin.register(ShippingZone)
class ShippingZoneAdmin(admin.ModelAdmin):
    form = ShippingZoneForm
    list_display = ["name", "country_list"]
    search_fields = ["name"]

    @admin.display(description=_("countries"))
    def country_list(self, obj):
        return ", ".join(obj.countries)


def _live_forms(formset):
    """The rows that will be kept: filled in (or saved before) and not marked for deletion."""
    return [
        form
        for form in formset.forms
        if (form.has_changed() or form.instance.pk) and not formset._should_delete_form(form)
    ]


class PriceInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        flat = self.instance.kind == ShippingMethod.Kind.FLAT
        for form in _live_forms(self):
            price = form.cleaned_data.get("price")
            if flat and price is None:
                form.add_error(
                    "price", _("A flat method needs its flat price in every currency it is offered in.")
                )
            elif not flat and price is not None:
                form.add_error(
                    "price", _("A by-weight method takes its price from its weight bands; leave this empty.")
                )


class WeightBandInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.kind == ShippingMethod.Kind.FLAT and _live_forms(self):
            raise ValidationError(
                _("Weight bands apply to by-weight methods only; remove them or change the pricing.")
            )


class ShippingMethodPriceInline(admin.TabularInline):
    model = ShippingMethodPrice
    formset = PriceInlineFormSet
    extra = 0


class WeightBandInline(admin.TabularInline):
    model = WeightBand
    formset = WeightBandInlineFormSet
    extra = 0


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "carrier", "kind", "min_delivery_days", "max_delivery_days"]
    list_filter = ["is_active", "kind", "carrier", "zones"]
    list_select_related = ["carrier"]
    search_fields = ["name", "carrier__name"]
    filter_horizontal = ["zones"]
    inlines = [ShippingMethodPriceInline, WeightBandInline]


@admin.register(CarrierEvent)
class CarrierEventAdmin(admin.ModelAdmin):
    """What carriers told the shop: written only by the verified webhook, never by hand."""

    list_display = ["received_at", "carrier", "status", "event_id", "tracking_number"]
    list_filter = ["carrier", "status"]
    list_select_related = ["carrier"]
    search_fields = ["event_id", "tracking_number"]
    readonly_fields = ["carrier", "event_id", "tracking_number", "status", "payload", "received_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
