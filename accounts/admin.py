from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.contrib.auth.forms import UserCreationForm as BaseUserCreationForm
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.countries import country_choices
from accounts.exceptions import AddressInvalid
from accounts.forms import CountryField
from accounts.models import Address, ErasureRequest, User


def _clean_unique_email(form: forms.ModelForm) -> str:
    email = User.objects.normalize_email(form.cleaned_data.get("email"))
    others = User.objects.filter(email__iexact=email)
    if form.instance.pk:
        others = others.exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError(_("A user is already registered with this email address."))
    return email


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        return _clean_unique_email(self)


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        return _clean_unique_email(self)


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = [
        ("full_name", "phone"),
        ("line1", "line2"),
        ("postal_code", "city"),
        ("region", "country"),
        "is_default_shipping",
    ]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined", "groups"]
    search_fields = ["email", "full_name"]
    ordering = ["-date_joined"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["full_name", "preferred_language"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]}),
    ]
    inlines = [AddressInline]

    def get_inlines(self, request, obj):
        # The add page asks only for the e-mail and password, like Django's own.
        return self.inlines if obj is not None else []


class AddressAdminForm(forms.ModelForm):
    """Validates like the address services (known country, required fields) and leaves the
    one-default rule to them: saving an address as the default clears the previous one."""

    # Any case, like the services; the choices (django-countries' names) are the shop's countries.
    country = CountryField(
        label=_("Country"), choices=country_choices,
        error_messages={"invalid_choice": _("Enter a supported two-letter country code (ISO 3166-1), such as DE or US.")},
    )

    class Meta:
        model = Address
        fields = ["user", *services.ADDRESS_FIELDS, "is_default_shipping"]

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in services.ADDRESS_FIELDS if name in self.fields}
        try:
            cleaned.update(services._address_clean(values))
        except AddressInvalid as error:
            self.add_error(error.field if error.field in self.fields else None, str(error.message))
        return cleaned

    def _get_validation_exclusions(self):
        # The one-default constraint is kept by the services (they clear the old default
        # first), so the form must not refuse a new default the service will make valid.
        return {*super()._get_validation_exclusions(), "is_default_shipping"}


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    form = AddressAdminForm
    list_display = ["full_name", "user", "city", "postal_code", "country", "is_default_shipping", "created_at"]
    list_filter = ["country", "is_default_shipping", "created_at"]
    search_fields = ["full_name", "user__email", "line1", "city", "postal_code"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.ADDRESS_FIELDS if name in form.cleaned_data}
        default = form.cleaned_data.get("is_default_shipping", False)
        if change:
            saved = services.address_update(address=obj, **values, is_default_shipping=default)
        else:
            saved = services.address_create(user=form.cleaned_data["user"], **values, is_default_shipping=default)
        obj.pk, obj.is_default_shipping = saved.pk, saved.is_default_shipping

    def delete_model(self, request, obj):
        services.address_delete(address=obj)

    def delete_queryset(self, request, queryset):
        for address in queryset:
            services.address_delete(address=address)


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    """Erasure requests, read-only: made by the person (account page or API), never by staff."""

    list_display = ("requested_at", "user", "status", "channel", "refusal_code")
    list_filter = ("status", "channel")
    search_fields = ("=user__id",)
    readonly_fields = ("user", "status", "channel", "refusal_code", "summary", "requested_at")
    date_hierarchy = "requested_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
