from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.httpkit import is_headless_request
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.shortcuts import redirect


class AccountAdapter(DefaultAccountAdapter):
    """allauth adapter: the place for sign-up and log-in rules of this shop."""

    def clean_email(self, email: str) -> str:
        """E-mail addresses are kept in one case, whatever was typed."""
        return get_user_model().objects.normalize_email(super().clean_email(email))

    def validate_unique_email(self, email: str) -> str:
        """Refuse an address that exists in any letter case, with a clear message.

        allauth checks its EmailAddress table (and knows when a row is the
        caller's own); this also checks the user table case-insensitively for
        users that have no EmailAddress row for the address, such as users made
        in admin or by `createsuperuser`. The Lower(email) unique constraint is
        the last line.
        """
        email = super().validate_unique_email(email)
        others = get_user_model().objects.filter(email__iexact=email).exclude(emailaddress__email__iexact=email)
        if others.exists():
            raise self.validation_error("email_taken")
        return email

    def save_user(self, request, user, form, commit=True):
        """Save a new user; losing a sign-up race for the same address is the usual clear error.

        Two sign-ups for one address (in any case) can both pass the form's
        check; the Lower(email) unique constraint lets only one insert win. The
        other gets the "already registered" error instead of a server error.
        """
        if not commit:
            return super().save_user(request, user, form, commit=False)
        try:
            with transaction.atomic():
                return super().save_user(request, user, form, commit=True)
        except IntegrityError:
            email = getattr(user, "email", "")
            if not email or not get_user_model().objects.filter(email__iexact=email).exists():
                raise
            error = self.validation_error("email_taken")
            if is_headless_request(request):
                from allauth.headless.internal.restkit.response import ErrorResponse

                form.add_error("email", error)
                raise ImmediateHttpResponse(ErrorResponse(request, input=form)) from None
            messages.error(request, error.messages[0])
            raise ImmediateHttpResponse(redirect("account_signup")) from None

    def post_login(self, request, user, **kwargs):
        """After a browser log-in, show the site in the user's preferred language."""
        response = super().post_login(request, user, **kwargs)
        language = getattr(user, "preferred_language", "")
        if language in dict(settings.LANGUAGES) and hasattr(response, "set_cookie"):
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
        return response
