"""Admin of what staff act on: wallets and payments, fraud rules and held payments, reconciliation, audit log.

Roles are groups made by migrations 0005 and 0008: "support" views and
resolves reconciliation items; "finance" may also refund, adjust and close
wallets, retry stuck payments now and release or refuse held payments. Every
action that changes state checks its permission itself and answers 403
(PermissionDenied) without it, asks for a reason where a person decides
(refund, adjust, close, release, refuse, resolve), and writes an AuditLog
entry (who, when, what, why) after the outcome is known: a refused attempt is
recorded as `<action>_refused`, never as the act.
"""

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from payments.admin_records import ReadOnlyAdminMixin
from payments.audit import audit_record
from payments.models import (
    AuditLog,
    FraudRule,
    Payment,
    PaymentAttempt,
    PaymentHold,
    ReconciliationItem,
    ReconciliationRun,
    Wallet,
)
from payments.reconciliation.items import reconciliation_item_resolve
from payments.services.adjustments import wallet_adjust
from payments.services.holds import payment_hold_refuse, payment_hold_release
from payments.services.refunds import payment_refund
from payments.services.sweep import payment_retry
from payments.services.wallets import wallet_close
from shop.core.admin_actions import action_confirm
from shop.core.exceptions import ShopError

PERM_REFUND = "payments.refund_payment"
PERM_ADJUST = "payments.adjust_wallet"
PERM_RESOLVE = "payments.resolve_reconciliationitem"
PERM_RELEASE = "payments.release_payment"
PERM_CLOSE_WALLET = "payments.close_wallet"
PERM_RETRY = "payments.retry_payment"


def require_perm(request, perm: str) -> None:
    """403 unless the staff user holds `perm` (admin actions are reachable by any staff who can view)."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255, required=True, widget=forms.TextInput(attrs={"size": 60}))


class NoteForm(forms.Form):
    reason = forms.CharField(label=_("Note"), max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))


class AdjustmentForm(ReasonForm):
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=18, decimal_places=2,
        help_text=_("Positive credits the wallet, negative debits it (in the wallet's currency)."),
    )
    field_order = ["amount", "reason"]

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("The amount cannot be zero."))
        return amount


# --- wallets and payments ---------------------------------------------------------------------------


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "currency", "balance", "status", "created_at"]
    list_filter = ["currency", "status"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "currency", "account", "balance", "status", "created_at"]
    actions = ["close_wallets", "adjust_balance"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Close the selected (empty) wallets (finance)"))
    def close_wallets(self, request, queryset):
        require_perm(request, PERM_CLOSE_WALLET)
        form, page = action_confirm(
            self, request, queryset, form_class=ReasonForm, action="close_wallets",
            title=_("Close wallets"),
            explanation=_("A closed wallet takes no more deposits or spends. Only an empty wallet can be closed."),
            submit_label=_("Close"),
        )
        if page is not None:
            return page
        reason = form.cleaned_data["reason"]
        for wallet in queryset:
            try:
                with transaction.atomic():
                    closed = wallet_close(wallet_id=wallet.pk)
                    audit_record(actor=request.user, action="wallet_close", obj=closed, reason=reason,
                                 data={"outcome": "closed", "balance": str(closed.balance)})
            except ShopError as exc:
                # Recorded after the outcome, as what it was: a refusal, not a close.
                audit_record(actor=request.user, action="wallet_close_refused", obj=wallet, reason=reason,
                             data={"outcome": "refused", "error": exc.code, "message": str(exc.message)})
                self.message_user(request, f"{wallet}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, _("%(wallet)s closed.") % {"wallet": wallet}, messages.SUCCESS)
        return None

    @admin.action(description=_("Adjust balance (finance): post a balanced adjustment with a reason"))
    def adjust_balance(self, request, queryset):
        require_perm(request, PERM_ADJUST)
        form, page = action_confirm(
            self, request, queryset, form_class=AdjustmentForm, action="adjust_balance",
            title=_("Adjust wallet balance"),
            explanation=_("A ledger adjustment between the wallet and provider clearing is posted; "
                          "balances are never edited. A debit cannot take a wallet below zero."),
            submit_label=_("Post adjustment"),
        )
        if page is not None:
            return page
        for wallet in queryset:
            try:
                amount = Money(Decimal(form.cleaned_data["amount"]), wallet.currency)
                tx = wallet_adjust(wallet_id=wallet.pk, amount=amount, reason=form.cleaned_data["reason"],
                                   actor=request.user)
            except (ShopError, InvalidOperation) as exc:
                self.message_user(request, f"{wallet}: {getattr(exc, 'message', exc)}", messages.ERROR)
            else:
                self.message_user(request, _("%(wallet)s adjusted by %(amount)s (%(tx)s).")
                                  % {"wallet": wallet, "amount": amount, "tx": tx.reference}, messages.SUCCESS)
        return None


class PaymentAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentAttempt
    fk_name = "payment"
    fields = ["created_at", "kind", "outcome", "status_code", "error_code", "error", "latency_ms", "request", "response"]
    readonly_fields = fields
    extra = 0


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "purpose", "reference", "method", "amount", "status", "attempt_count", "next_retry_at"]
    list_filter = ["status", "purpose", "method", "hold__status"]
    search_fields = ["reference", "user__email", "provider_key", "provider_charge_id"]
    date_hierarchy = "created_at"
    inlines = [PaymentAttemptInline]
    actions = ["retry_now", "refund_in_full"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry now (finance): ask the provider, charge again only if it has nothing"))
    def retry_now(self, request, queryset):
        """What the stuck-payment job would do at the next retry time, now; asks for a reason like every
        other money action, and is audited with it and its outcome."""
        require_perm(request, PERM_RETRY)
        form, page = action_confirm(
            self, request, queryset, form_class=ReasonForm, action="retry_now", title=_("Retry payments now"),
            explanation=_("The provider is asked for each payment's outcome first; it is charged again only "
                          "if the provider has no record of it."),
            submit_label=_("Retry now"),
        )
        if page is not None:
            return page
        reason = form.cleaned_data["reason"]
        retried = 0
        for payment in queryset.filter(status__in=Payment.OPEN_STATUSES, method=Payment.Method.CARD):
            try:
                result = payment_retry(payment_id=payment.pk)
            except ShopError as exc:
                audit_record(actor=request.user, action="payment_retry_refused", obj=payment, reason=reason,
                             data={"was": payment.status, "error": exc.code})
                self.message_user(request, f"{payment.pk}: {exc.message}", messages.ERROR)
                continue
            retried += 1
            audit_record(actor=request.user, action="payment_retry", obj=payment, reason=reason,
                         data={"was": payment.status, "now": result.status, "error": result.last_error_code})
            self.message_user(request, f"{payment.pk}: {result.get_status_display()}")
        if not retried:
            self.message_user(request, _("Only processing or unknown card payments can be retried."), messages.WARNING)
        return None

    @admin.action(description=_("Refund in full (finance)"))
    def refund_in_full(self, request, queryset):
        require_perm(request, PERM_REFUND)
        form, page = action_confirm(
            self, request, queryset, form_class=ReasonForm, action="refund_in_full",
            title=_("Refund payments in full"),
            explanation=_("What is left of each payment goes back the way it came (wallet or card)."),
            submit_label=_("Refund"),
        )
        if page is not None:
            return page
        reason = form.cleaned_data["reason"]
        for payment in queryset:
            data = {"amount": str(payment.refundable.amount), "currency": payment.amount.currency.code}
            try:
                refund = payment_refund(
                    payment_id=payment.pk, amount=payment.refundable,
                    reference=f"{payment.reference}-staff-{uuid.uuid4().hex[:12]}", reason=reason, actor=request.user,
                )
            except ShopError as exc:
                audit_record(actor=request.user, action="payment_refund", obj=payment, reason=reason,
                             data={**data, "error": exc.code})
                self.message_user(request, f"{payment.pk}: {exc.message}", messages.ERROR)
            else:
                audit_record(actor=request.user, action="payment_refund", obj=payment, reason=reason,
                             data={**data, "refund": refund.reference, "status": refund.status})
                self.message_user(request, _("Payment %(id)s refunded.") % {"id": payment.pk}, messages.SUCCESS)
        return None


# --- fraud rules and held payments -------------------------------------------------------------------


@admin.register(FraudRule)
class FraudRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "window_minutes", "max_attempts", "max_declines", "action", "active"]
    list_filter = ["active", "scope", "action"]
    list_editable = ["active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(actor=request.user, action="fraud_rule_change" if change else "fraud_rule_add", obj=obj,
                     data={f: str(form.cleaned_data.get(f)) for f in form.changed_data})

    def delete_model(self, request, obj):
        data = {"name": obj.name, "scope": obj.scope, "action": obj.action}
        pk = obj.pk
        super().delete_model(request, obj)
        audit_record(actor=request.user, action="fraud_rule_delete", object_type="payments.fraudrule",
                     object_id=pk, data=data)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


@admin.register(PaymentHold)
class PaymentHoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["payment", "status", "rule", "reason", "created_at", "decided_by", "decided_at"]
    list_filter = ["status", "rule"]
    list_select_related = ["payment", "rule", "decided_by"]
    search_fields = ["payment__reference", "payment__user__email"]
    actions = ["release", "refuse"]

    @admin.action(description=_("Release and charge (finance)"))
    def release(self, request, queryset):
        return self._decide(request, queryset, action="release", verb="payment_hold_release",
                            decide=payment_hold_release, title=_("Release held payments"),
                            explanation=_("Each payment is charged now. Say why it is safe to release."),
                            submit_label=_("Release and charge"))

    @admin.action(description=_("Refuse (finance): the payment fails and its order is cancelled"))
    def refuse(self, request, queryset):
        return self._decide(request, queryset, action="refuse", verb="payment_hold_refuse",
                            decide=payment_hold_refuse, title=_("Refuse held payments"),
                            explanation=_("Each payment fails and its order is cancelled. Say why."),
                            submit_label=_("Refuse"))

    def _decide(self, request, queryset, *, action, verb, decide, title, explanation, submit_label):
        """Ask for the reason, then release or refuse each held payment; a refused decision is audited as such."""
        require_perm(request, PERM_RELEASE)
        form, page = action_confirm(self, request, queryset, form_class=ReasonForm, action=action, title=title,
                              explanation=explanation, submit_label=submit_label)
        if page is not None:
            return page
        reason = form.cleaned_data["reason"]
        for hold in queryset.select_related("payment"):
            if hold.status != PaymentHold.Status.HELD:
                self.message_user(request, _("%(hold)s was already decided.") % {"hold": hold}, messages.WARNING)
                continue
            try:
                payment = decide(hold_id=hold.pk, actor=request.user, reason=reason)
            except ShopError as exc:
                audit_record(actor=request.user, action=f"{verb}_refused", obj=hold.payment, reason=reason,
                             data={"hold": hold.pk, "error": exc.code})
                self.message_user(request, f"{hold}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{payment.pk}: {payment.get_status_display()}")
        return None


# --- reconciliation ---------------------------------------------------------------------------------


class ReconciliationItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReconciliationItem
    fields = ["kind", "object_type", "object_id", "related", "currency", "expected", "actual", "suggested_action",
              "auto_repaired", "resolved", "resolved_by"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "status", "discrepancy_count", "repaired_count", "duration_ms", "finished_at"]
    list_filter = ["status"]
    date_hierarchy = "day"
    readonly_fields = ["day", "status", "started_at", "finished_at", "duration_ms", "checked", "discrepancy_count",
                       "repaired_count", "error", "triggered_by"]
    inlines = [ReconciliationItemInline]


@admin.register(ReconciliationItem)
class ReconciliationItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Whether it is resolved comes early: the whole row does not fit 1280 px, the state must.
    list_display = ["id", "run", "kind", "resolved", "object_type", "object_id", "related", "currency", "expected",
                    "actual", "suggested_action", "auto_repaired", "resolved_by"]
    list_filter = ["resolved", "auto_repaired", "kind", "suggested_action", ("run__day", admin.DateFieldListFilter)]
    list_select_related = ["run", "resolved_by"]
    search_fields = ["object_id", "related", "detail"]
    readonly_fields = ["run", "kind", "object_type", "object_id", "related", "currency", "expected", "actual",
                       "detail", "suggested_action", "auto_repaired", "resolved", "resolved_by", "resolved_at",
                       "resolution_note"]
    actions = ["resolve"]

    @admin.action(description=_("Mark resolved (with a note)"))
    def resolve(self, request, queryset):
        require_perm(request, PERM_RESOLVE)
        form, page = action_confirm(
            self, request, queryset, form_class=NoteForm, action="resolve", title=_("Resolve reconciliation items"),
            explanation=_("Say what was done; the items keep their findings and record who resolved them."),
            submit_label=_("Resolve"),
        )
        if page is not None:
            return page
        done = 0
        for item in queryset.filter(resolved=False):
            reconciliation_item_resolve(item_id=item.pk, actor=request.user, note=form.cleaned_data["reason"])
            done += 1
        self.message_user(request, _("%(n)d item(s) resolved.") % {"n": done}, messages.SUCCESS)
        return None


# --- audit ------------------------------------------------------------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "reason"]
    list_filter = ["action", "object_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["object_id", "reason", "actor__email"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "actor", "action", "object_type", "object_id", "reason", "data"]
