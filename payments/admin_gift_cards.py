"""Admin of gift cards: staff issue a card (the code is shown once), see balances, switch a card off.

Balances are never edited here: a card's value moves only through the
ledger (payments.services.gift_cards). Issuing is written to the audit log.
"""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.audit import audit_record
from payments.models import GiftCard
from payments.services.gift_cards import gift_card_issue
from shop.core.exceptions import ShopError


class GiftCardIssueForm(forms.Form):
    amount = forms.DecimalField(label=_("Value"), max_digits=12, decimal_places=2, min_value=0.01)
    currency = forms.ChoiceField(label=_("Currency"), choices=settings.CURRENCY_CHOICES)
    expires_at = forms.DateTimeField(label=_("Expires at"), required=False, help_text=_("Empty: never."))
    # Issued once per form: a double submit returns the card issued first.
    reference = forms.CharField(widget=forms.HiddenInput, initial=uuid.uuid4, max_length=64)


@admin.register(GiftCard)
class GiftCardAdmin(admin.ModelAdmin):
    list_display = ["__str__", "currency", "balance", "initial_amount", "source", "expires_at", "is_active", "created_at"]
    list_filter = ["source", "currency", "is_active"]
    search_fields = ["last4", "issue_reference"]
    readonly_fields = [
        "last4", "currency", "balance", "initial_amount", "source", "issue_reference", "issued_by", "account",
        "created_at",
    ]
    fields = [*readonly_fields, "expires_at", "is_active"]

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """Issue a card through the service instead of saving a model form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = GiftCardIssueForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    issued = gift_card_issue(
                        amount=Money(data["amount"], data["currency"]),
                        source=GiftCard.Source.STAFF,
                        issue_reference=f"staff:{data['reference']}",
                        issued_by=request.user,
                        expires_at=data["expires_at"],
                    )
                    if issued.code:  # a double submit replays the first issue: audited once
                        audit_record(actor=request.user, action="gift_card_issue", obj=issued.card,
                                     data={"amount": str(data["amount"]), "currency": data["currency"]})
            except ShopError as exc:
                form.add_error(None, str(exc.message))
            else:
                if issued.code:
                    message = _("Gift card issued. Its code, shown only now: %(code)s") % {"code": issued.code}
                else:
                    message = _("This gift card was issued already; its code was shown then.")
                self.message_user(request, message, messages.SUCCESS)
                return redirect(reverse("admin:payments_giftcard_change", args=[issued.card.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Issue a gift card"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/giftcard/issue.html", context)
