"""Admin of the money records: the ledger, attempts, refunds, payouts, keys and events, all read-only.

Records of money are corrected by new postings, never edited. Wallets and
payments, which staff act on, are in payments/admin_staff.py.
"""

from django.contrib import admin

from payments.models import (
    IdempotencyKey,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PaymentAttempt,
    Refund,
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
