"""Orders in admin: lines and events inline; actions call the same services as pages and API."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from payments.audit import audit_record
from shop.exceptions import ShopError
from shop.orders import services
from shop.orders.models import Order, OrderEvent, OrderLine, OutboxEmail, ReturnLine, ReturnRequest


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("sku", "name", "unit_price", "quantity", "refunded_quantity", "product")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _run(modeladmin, request, queryset, service, done_message, id_arg="order_id", **kwargs):
    done = 0
    for obj in queryset:
        try:
            service(actor=request.user, **{id_arg: obj.pk}, **kwargs)
        except ShopError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            outcome = {"error": exc.code}
        else:
            done += 1
            outcome = {"ok": True}
        # Every staff action on orders is audited (payments.AuditLog): who, when, what, why.
        audit_record(actor=request.user, action=service.__name__, obj=obj, reason=str(kwargs.get("reason", "")),
                     data=outcome)
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "user", "status", "total", "payment_method", "created_at")
    list_filter = ("status", "payment_method", ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "user__email", "lines__sku")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    inlines = [OrderLineInline, OrderEventInline]
    actions = ["mark_shipped", "mark_delivered", "refund", "cancel"]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark selected orders shipped"))
    def mark_shipped(self, request, queryset):
        _run(self, request, queryset, services.order_ship,
             lambda n: ngettext("%d order marked shipped.", "%d orders marked shipped.", n) % n)

    @admin.action(description=_("Mark selected orders delivered"))
    def mark_delivered(self, request, queryset):
        _run(self, request, queryset, services.order_deliver,
             lambda n: ngettext("%d order marked delivered.", "%d orders marked delivered.", n) % n)

    @admin.action(description=_("Refund selected orders in full"))
    def refund(self, request, queryset):
        if not request.user.has_perm("payments.refund_payment"):
            raise PermissionDenied
        _run(self, request, queryset, services.order_refund,
             lambda n: ngettext("%d order refunded.", "%d orders refunded.", n) % n,
             reason=str(_("Refunded by staff")))

    @admin.action(description=_("Cancel selected unpaid orders"))
    def cancel(self, request, queryset):
        _run(self, request, queryset, services.order_cancel,
             lambda n: ngettext("%d order cancelled.", "%d orders cancelled.", n) % n,
             reason=str(_("Cancelled by staff")))


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    extra = 0
    can_delete = False
    readonly_fields = ("order_line", "quantity")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "order", "status", "refund_amount", "created_at", "decided_at")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("order__number", "order__user__email")
    list_select_related = ("order",)
    inlines = [ReturnLineInline]
    actions = ["approve", "reject"]
    readonly_fields = ("order", "status", "reason", "refund_amount", "created_at", "decided_at", "decided_by")

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve and refund selected returns"))
    def approve(self, request, queryset):
        if not request.user.has_perm("payments.refund_payment"):
            raise PermissionDenied
        _run(self, request, queryset, services.return_request_approve,
             lambda n: ngettext("%d return approved and refunded.", "%d returns approved and refunded.", n) % n,
             id_arg="return_id")

    @admin.action(description=_("Reject selected returns"))
    def reject(self, request, queryset):
        _run(self, request, queryset, services.return_request_reject,
             lambda n: ngettext("%d return rejected.", "%d returns rejected.", n) % n,
             id_arg="return_id")


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = ("key", "kind", "recipient", "created_at", "sent_at", "attempts", "last_error")
    list_filter = ("kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "recipient")
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]

    def has_add_permission(self, request):
        return False
