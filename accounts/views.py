"""Account pages: profile and addresses. Forms validate, services act, then redirect."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.api_privacy import export_response
from accounts.exceptions import AddressInvalid, PasswordIncorrect
from accounts.forms import AccountDeleteForm, AddressForm, ProfileForm
from accounts.models import ErasureRequest
from shop.core.exceptions import ShopError


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = services.user_profile_update(
            user=request.user,
            full_name=form.cleaned_data["full_name"],
            preferred_language=form.cleaned_data["preferred_language"],
        )
        messages.success(request, _("Your profile has been saved."))
        response = redirect("accounts:profile")
        if user.preferred_language:
            translation.activate(user.preferred_language)
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.preferred_language, samesite="Lax")
        return response
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "email_verified": selectors.user_has_verified_email(request.user),
            "default_address": selectors.address_default_for_user(request.user),
        },
    )


@login_required
def address_list(request):
    return render(request, "accounts/address_list.html", {"addresses": selectors.addresses_for_user(request.user)})


def _form_values(form: AddressForm) -> dict:
    return dict(form.cleaned_data)


@login_required
@require_http_methods(["GET", "POST"])
def address_create(request):
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.address_create(user=request.user, **_form_values(form))
        except AddressInvalid as error:
            form.add_error(error.field, str(error.message))
        else:
            messages.success(request, _("The address has been added."))
            return redirect("accounts:address_list")
    return render(request, "accounts/address_form.html", {"form": form, "address": None})


@login_required
@require_http_methods(["GET", "POST"])
def address_edit(request, address_id: int):
    address = selectors.address_get_for_user(request.user, address_id)
    form = AddressForm(request.POST or None, instance=address)
    if request.method == "POST" and form.is_valid():
        try:
            services.address_update(address=address, **_form_values(form))
        except AddressInvalid as error:
            form.add_error(error.field, str(error.message))
        else:
            messages.success(request, _("The address has been saved."))
            return redirect("accounts:address_list")
    return render(request, "accounts/address_form.html", {"form": form, "address": address})


@login_required
@require_http_methods(["GET", "POST"])
def address_delete(request, address_id: int):
    address = selectors.address_get_for_user(request.user, address_id)
    if request.method == "POST":
        services.address_delete(address=address)
        messages.success(request, _("The address has been deleted."))
        return redirect("accounts:address_list")
    return render(request, "accounts/address_confirm_delete.html", {"address": address})


@login_required
@require_POST
def address_set_default(request, address_id: int):
    address = selectors.address_get_for_user(request.user, address_id)
    services.address_set_default(address=address)
    messages.success(request, _("Your default shipping address has been changed."))
    return redirect("accounts:address_list")


@login_required
def account_export(request):
    """The personal-data export as a download (the same file as `GET /api/v1/me/export/`)."""
    return export_response(services.user_export(user=request.user), request.user.pk)


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    """Erase the account after the password is given; signs out everywhere."""
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_erase(
                user=request.user, password=form.cleaned_data["password"], channel=ErasureRequest.Channel.PAGE
            )
        except PasswordIncorrect as error:
            form.add_error("password", str(error.message))
        except ShopError as error:
            form.add_error(None, str(error.message))
        else:
            logout(request)
            messages.success(request, _("Your account has been erased. Thank you for shopping with us."))
            return redirect("/")
    return render(request, "accounts/account_delete.html", {"form": form})
