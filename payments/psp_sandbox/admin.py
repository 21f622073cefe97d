"""Read-only admin for the sandbox provider's records (they change only through its HTTP API)."""

from django.contrib import admin

from .models import SandboxCharge, SandboxEvent, SandboxPayout, SandboxRefund


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdmin):
    list_display = ["id", "amount", "status", "failure_code", "token", "reference", "created"]
    list_filter = ["status", "token", "created"]
    search_fields = ["id", "idempotency_key", "reference"]
    date_hierarchy = "created"


@admin.register(SandboxRefund)
class SandboxRefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "charge", "amount", "status", "reference", "created"]
    list_filter = ["status", "created"]
    search_fields = ["id", "idempotency_key", "reference", "charge__id"]
    date_hierarchy = "created"


@admin.register(SandboxPayout)
class SandboxPayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "amount", "status", "failure_code", "token", "reference", "created"]
    list_filter = ["status", "token", "created"]
    search_fields = ["id", "idempotency_key", "reference"]
    date_hierarchy = "created"


@admin.register(SandboxEvent)
class SandboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "object_id", "target_url", "delivered_at", "created"]
    list_filter = ["type", "created"]
    search_fields = ["id", "object_id"]
    date_hierarchy = "created"
