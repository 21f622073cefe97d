"""Admin: the ledger is read-only; payments show their attempts.

The actions that change state (close wallets, retry a payment now, refunds,
adjustments, holds) live in payments/admin_staff.py, each behind its own
permission and written to the audit log.
"""

from django.contrib import admin

from payments.models import (
    IdempotencyKey,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentAttempt,
    Refund,
    Wallet,
    WebhookEvent,
    Withdrawal,
)


class ReadOnlyAdminMixin:
    """No add, change or delete: records of money are corrected by new postings, not edits."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "amount", "currency"]
    readonly_fields = fields
    extra = 0


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "user", "purpose", "currency", "created_at"]
    list_filter = ["purpose", "currency"]
    search_fields = ["user__email"]


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "kind", "description", "created_at"]
    list_filter = ["kind"]
    search_fields = ["reference", "description"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "transaction", "account", "amount", "currency"]
    list_filter = ["currency", "account__purpose"]
    search_fields = ["transaction__reference", "account__user__email"]
    list_select_related = ["transaction", "account__user"]


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "currency", "balance", "status", "created_at"]
    list_filter = ["currency", "status"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "currency", "account", "balance", "status", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PaymentAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentAttempt
    fk_name = "payment"
    fields = ["created_at", "kind", "outcome", "status_code", "error_code", "error", "latency_ms", "request", "response"]
    readonly_fields = fields
    extra = 0


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "purpose", "reference", "method", "amount", "status", "attempt_count", "next_retry_at"]
    list_filter = ["status", "purpose", "method"]
    search_fields = ["reference", "user__email", "provider_key", "provider_charge_id"]
    date_hierarchy = "created_at"
    inlines = [PaymentAttemptInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "payment", "withdrawal", "refund", "kind", "outcome", "status_code", "latency_ms", "created_at"]
    list_filter = ["kind", "outcome"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "payment", "amount", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["reference"]


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "wallet", "amount", "status", "attempt_count", "created_at"]
    list_filter = ["status"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "user", "scope", "status", "response_status", "created_at"]
    list_filter = ["scope", "status"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["event_id", "type", "result", "received_at"]
    list_filter = ["type"]


# Staff operations (reconciliation, fraud holds, adjustments, audit) register and extend the above.
from payments import admin_staff  # noqa: E402, F401
