"""Orders in admin: lines and events inline; actions call the same services as pages and API.

Every action checks its permission itself (a forged POST by a view-only
"support" user is 403 and changes nothing) and is offered only to staff who
hold it: shipping, delivering, cancelling and rejecting a return need the
model's change permission; anything that gives money back needs
`payments.refund_payment` (the "finance" group). Each asks for a reason on an
intermediate page, passes it to the service (the order's timeline shows it)
and records the outcome in the audit log (payments.AuditLog): done, or
refused and why.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, TextChoices
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from payments.audit import audit_record
from shop.core.admin_actions import action_confirm
from shop.core.exceptions import ShopError
from shop.orders import admin_shipments
from shop.orders.invoice_admin import InvoiceInline
from shop.orders.models import (
    Order,
    OrderEvent,
    OrderGiftCard,
    OrderLine,
    OutboxEmail,
    ReturnLine,
    ReturnRequest,
    Shipment,
)
from shop.orders.selectors import order_breakdown, order_unshipped_by_warehouse
from shop.orders.services import outbox, returns, shipments, transitions
from shop.shipping.models import Carrier

PERM_CHANGE_ORDER = "orders.change_order"
PERM_CHANGE_RETURN = "orders.change_returnrequest"
PERM_CHANGE_OUTBOX = "orders.change_outboxemail"
PERM_REFUND = "payments.refund_payment"


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


class ShipmentInline(admin.TabularInline):
    """The order's parcels, read-only; "Mark delivered…" opens the reason page for one parcel."""

    model = Shipment
    extra = 0
    can_delete = False
    fields = ("tracking_number", "carrier", "warehouse", "contents", "status", "shipped_at", "delivered_at",
              "created_by", "deliver")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Whoever may see the order sees its parcels (fulfilment needs no extra permission).
        return request.user.has_perm("orders.view_order") or request.user.has_perm(PERM_CHANGE_ORDER)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("carrier", "warehouse", "created_by").prefetch_related(
            "lines__order_line"
        )

    @admin.display(description=_("contents"))
    def contents(self, shipment):
        return ", ".join(f"{sl.quantity} × {sl.order_line.sku}" for sl in shipment.lines.all())

    @admin.display(description="")
    def deliver(self, shipment):
        if shipment.status != Shipment.Status.SHIPPED:
            return ""
        url = reverse("admin:orders_order_deliver_shipment", args=[shipment.order_id, shipment.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Mark delivered…"))


class ShipEverythingForm(forms.Form):
    carrier = forms.ModelChoiceField(label=_("Carrier"), queryset=Carrier.objects.filter(is_active=True))
    tracking_numbers = forms.CharField(
        label=_("Tracking numbers"), max_length=2000,
        help_text=_("One per parcel, separated by spaces or commas: each order ships one parcel per warehouse "
                    "holding its units, in order number then warehouse order."),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=200, widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("Kept in the audit log and shown in the order's timeline, which the shopper sees too."),
    )

    def numbers(self) -> list[str]:
        return [n for n in self.cleaned_data["tracking_numbers"].replace(",", " ").split() if n]


class ActionReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=200, required=True, widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("Kept in the audit log and shown in the order's timeline, which the shopper sees too."),
    )


class PermissionCheckedActionsMixin:
    """Actions declare the permissions they need in ACTION_PERMS (all of them are required).

    The action list shows only what the user may run; a POST still reaches the
    action, which refuses with 403 rather than a vague "no action selected".
    """

    ACTION_PERMS: dict[str, tuple[str, ...]] = {}

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.method == "POST":
            return actions
        return {
            name: action for name, action in actions.items()
            if request.user.has_perms(self.ACTION_PERMS.get(name, ()))
        }

    def require(self, request, action: str) -> None:
        if not request.user.has_perms(self.ACTION_PERMS[action]):
            raise PermissionDenied


def _reason_or_page(modeladmin, request, queryset, *, action: str, title, explanation, submit_label):
    """(reason, None) once the staff member confirmed with a reason; else (None, the confirmation page)."""
    form, page = action_confirm(
        modeladmin, request, queryset, form_class=ActionReasonForm, action=action, title=title,
        explanation=explanation, submit_label=submit_label,
    )
    return (form.cleaned_data["reason"].strip(), None) if form is not None else (None, page)


def _apply(modeladmin, request, queryset, *, service, reason: str, done_message, id_arg="order_id", details=None):
    """Run `service` on each selected object; audit each outcome after it is known."""
    done = 0
    for obj in queryset:
        try:
            result = service(actor=request.user, reason=reason, **{id_arg: obj.pk})
        except ShopError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            audit_record(actor=request.user, action=service.__name__, obj=obj, reason=reason,
                         data={"ok": False, "refused": exc.code, "detail": str(exc.message)})
            continue
        done += 1
        audit_record(actor=request.user, action=service.__name__, obj=obj, reason=reason,
                     data={"ok": True, **(details(result) if details else {})})
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


def _ship_everything(modeladmin, request, queryset, form) -> None:
    """One parcel per warehouse per order, numbers taken in (order, warehouse) order; audited per order."""
    numbers, reason = form.numbers(), form.cleaned_data["reason"].strip()
    orders = list(queryset.order_by("pk"))
    needed = [
        len(order_unshipped_by_warehouse(order.pk)) if order.status in shipments.SHIPPABLE else 0 for order in orders
    ]
    if sum(needed) != len(numbers):
        modeladmin.message_user(
            request, _("These orders ship in %(n)d parcel(s); give exactly one tracking number for each.")
            % {"n": sum(needed)}, messages.ERROR,
        )
        return
    done, at = 0, 0
    for order, count in zip(orders, needed, strict=True):
        mine, at = numbers[at:at + count], at + count
        try:
            made = shipments.order_ship_everything(
                order_id=order.pk, carrier=form.cleaned_data["carrier"], tracking_numbers=mine,
                actor=request.user, reason=reason,
            )
        except ShopError as exc:
            modeladmin.message_user(request, f"{order}: {exc.message}", messages.ERROR)
            audit_record(actor=request.user, action="order_ship_everything", obj=order, reason=reason,
                         data={"ok": False, "refused": exc.code, "detail": str(exc.message)})
            continue
        done += 1
        audit_record(actor=request.user, action="order_ship_everything", obj=order, reason=reason,
                     data={"ok": True, "tracking_numbers": [s.tracking_number for s in made]})
    if done:
        modeladmin.message_user(
            request, ngettext("%d order shipped.", "%d orders shipped.", done) % done, messages.SUCCESS
        )


def _refund_details(order) -> dict:
    return {"refunded_total": str(order.refunded_total.amount), "currency": order.currency, "status": order.status}


class OrderGiftCardInline(admin.TabularInline):
    """The gift cards that paid part of the order: what each paid and what went back to it."""

    model = OrderGiftCard
    extra = 0
    can_delete = False
    fields = ("last4", "amount", "refunded", "gift_card")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(PermissionCheckedActionsMixin, admin.ModelAdmin):
    list_display = ("number", "user", "status", "total", "payment_method", "created_at")
    list_filter = ("status", "payment_method", ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "email", "user__email", "lines__sku")  # a guest order has only its e-mail
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    inlines = [OrderLineInline, OrderGiftCardInline, ShipmentInline, InvoiceInline, OrderEventInline]
    actions = ["ship_everything", "mark_delivered", "refund", "cancel", "cancel_unshipped"]
    ACTION_PERMS = {
        "ship_everything": (PERM_CHANGE_ORDER,),
        "mark_delivered": (PERM_CHANGE_ORDER,),
        "cancel": (PERM_CHANGE_ORDER,),
        "refund": (PERM_REFUND,),
        # Cancelling what did not ship gives its money back: both permissions.
        "cancel_unshipped": (PERM_CHANGE_ORDER, PERM_REFUND),
    }
    readonly_fields = [f.name for f in Order._meta.fields] + ["address", "price_components"]
    # Fields that only mean something in some states; never the internal checkout token.
    STATE_FIELDS = {
        "reservation_expires_at": {Order.Status.PENDING_PAYMENT},
        "cancel_reason": {Order.Status.CANCELLED},
        "cancelled_at": {Order.Status.CANCELLED},
        "shipped_at": {Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.REFUNDED},
        "delivered_at": {Order.Status.DELIVERED, Order.Status.REFUNDED},
    }
    # The price components show once, together, in "price_components" (after the status).
    PRICE_FIELDS = {
        "total", "refunded_total", "subtotal", "discount_total", "voucher_discount", "shipping_price", "shipping_tax",
        "tax_total", "gift_card_total", "prices_include_tax", "tax_summary", "shipping",
    }
    HIDDEN_FIELDS = {
        "checkout_token", "shipping_address", "updated_at", *PRICE_FIELDS, *(f"{name}_currency" for name in PRICE_FIELDS),
    }
    # The buttons on an order's page, by the states in which each can apply.
    ORDER_BUTTONS = (
        ("ship_everything", _("Ship everything…"), shipments.SHIPPABLE),
        ("mark_delivered", _("Deliver everything…"), {Order.Status.SHIPPED}),
        ("cancel", _("Cancel…"), {Order.Status.PENDING_PAYMENT}),
        ("cancel_unshipped", _("Cancel the rest…"), {Order.Status.PARTIALLY_SHIPPED}),
        ("refund", _("Refund…"), transitions.REFUNDABLE),
    )

    def get_fields(self, request, obj=None):
        extra = {"address", "price_components"}
        fields = [f for f in super().get_fields(request, obj) if f not in self.HIDDEN_FIELDS and f not in extra]
        if obj is not None:
            fields = [f for f in fields if obj.status in self.STATE_FIELDS.get(f, {obj.status})]
        at = fields.index("status") + 1 if "status" in fields else len(fields)
        fields = [*fields[:at], "price_components", *fields[at:]]
        at = fields.index("email") if "email" in fields else len(fields)
        return [*fields[:at], "address", *fields[at:]]

    @admin.display(description=_("price"))
    def price_components(self, obj):
        """The stored components as checkout priced them: subtotal, discounts, shipping, tax, gift cards, total."""
        return render_to_string("admin/orders/order/price_components.html", {
            "breakdown": order_breakdown(obj), "shipping": obj.shipping or {}, "shipping_tax": obj.shipping_tax,
            "discount_total": obj.discount_total, "refunded_total": obj.refunded_total,
        })

    @admin.display(description=_("shipping address"))
    def address(self, obj):
        a = obj.shipping_address or {}
        lines = [a.get("full_name"), a.get("line1"), a.get("line2"),
                 " ".join(p for p in (a.get("postal_code"), a.get("city")) if p), a.get("country")]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line)) or "-"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        buttons = [
            (action, label) for action, label, states in self.ORDER_BUTTONS
            if order is not None and order.status in states and request.user.has_perms(self.ACTION_PERMS[action])
        ]
        create_shipment_url = None
        if order is not None and order.status in shipments.SHIPPABLE and request.user.has_perm(PERM_CHANGE_ORDER):
            create_shipment_url = reverse("admin:orders_order_create_shipment", args=[order.pk])
        extra = {"order_actions": buttons, "create_shipment_url": create_shipment_url}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/ship/", wrap(lambda request, object_id: admin_shipments.shipment_create_view(
                self, request, object_id)), name="orders_order_create_shipment"),
            path("<path:object_id>/shipments/<int:shipment_id>/deliver/",
                 wrap(lambda request, object_id, shipment_id: admin_shipments.shipment_deliver_view(
                     self, request, object_id, shipment_id)), name="orders_order_deliver_shipment"),
            *super().get_urls(),
        ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Ship everything left of the selected orders"))
    def ship_everything(self, request, queryset):
        self.require(request, "ship_everything")
        form, page = action_confirm(
            self, request, queryset, form_class=ShipEverythingForm, action="ship_everything",
            title=_("Ship everything left"),
            explanation=_("Each order ships what is left in one parcel per warehouse; the shoppers are "
                          "e-mailed the tracking links."),
            submit_label=_("Ship"),
        )
        if page is not None:
            return page
        _ship_everything(self, request, queryset, form)
        return None

    @admin.action(description=_("Mark selected orders delivered"))
    def mark_delivered(self, request, queryset):
        self.require(request, "mark_delivered")
        reason, page = _reason_or_page(
            self, request, queryset, action="mark_delivered", title=_("Mark orders delivered"),
            explanation=_("Every parcel of each shipped order is marked delivered. "
                          "Say how the delivery is known (carrier confirmation, signature)."),
            submit_label=_("Mark delivered"),
        )
        if page is not None:
            return page
        _apply(self, request, queryset, service=shipments.order_deliver_everything, reason=reason,
               done_message=lambda n: ngettext("%d order marked delivered.", "%d orders marked delivered.", n) % n)
        return None

    @admin.action(description=_("Refund selected orders in full (finance)"))
    def refund(self, request, queryset):
        self.require(request, "refund")
        reason, page = _reason_or_page(
            self, request, queryset, action="refund", title=_("Refund orders in full"),
            explanation=_("Everything not yet refunded goes back the way it was paid (wallet or card); "
                          "goods not yet shipped go back in stock."),
            submit_label=_("Refund"),
        )
        if page is not None:
            return page
        _apply(self, request, queryset, service=transitions.order_refund, reason=reason, details=_refund_details,
               done_message=lambda n: ngettext("%d order refunded.", "%d orders refunded.", n) % n)
        return None

    @admin.action(description=_("Cancel selected unpaid orders"))
    def cancel(self, request, queryset):
        self.require(request, "cancel")
        reason, page = _reason_or_page(
            self, request, queryset, action="cancel", title=_("Cancel unpaid orders"),
            explanation=_("Their reserved stock is released. Paid orders cannot be cancelled (refund them instead)."),
            submit_label=_("Cancel orders"),
        )
        if page is not None:
            return page
        _apply(self, request, queryset, service=transitions.order_cancel, reason=reason,
               done_message=lambda n: ngettext("%d order cancelled.", "%d orders cancelled.", n) % n)
        return None

    @admin.action(description=_("Cancel what did not ship of partially shipped orders (finance)"))
    def cancel_unshipped(self, request, queryset):
        self.require(request, "cancel_unshipped")
        reason, page = _reason_or_page(
            self, request, queryset, action="cancel_unshipped", title=_("Cancel what did not ship"),
            explanation=_("The units not shipped are refunded the way they were paid and put back in the "
                          "warehouses that held them; what shipped stays shipped."),
            submit_label=_("Cancel the rest"),
        )
        if page is not None:
            return page
        _apply(self, request, queryset, service=shipments.order_cancel_unshipped, reason=reason,
               details=_refund_details,
               done_message=lambda n: ngettext("%d order's rest cancelled.", "%d orders' rest cancelled.", n) % n)
        return None


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    extra = 0
    can_delete = False
    readonly_fields = ("order_line", "quantity")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReturnRequest)
class ReturnRequestAdmin(PermissionCheckedActionsMixin, admin.ModelAdmin):
    list_display = ("id", "order", "status", "refund_amount", "created_at", "decided_at")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("order__number", "order__user__email")
    list_select_related = ("order",)
    inlines = [ReturnLineInline]
    actions = ["approve", "reject"]
    # Approving decides the return and gives money back: both permissions.
    ACTION_PERMS = {
        "approve": (PERM_CHANGE_RETURN, PERM_REFUND),
        "reject": (PERM_CHANGE_RETURN,),
    }
    readonly_fields = ("order", "status", "reason", "refund_amount", "created_at", "decided_at", "decided_by")

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve and refund selected returns"))
    def approve(self, request, queryset):
        self.require(request, "approve")
        reason, page = _reason_or_page(
            self, request, queryset, action="approve", title=_("Approve and refund returns"),
            explanation=_("The returned items are refunded the way they were paid and put back in stock."),
            submit_label=_("Approve and refund"),
        )
        if page is not None:
            return page
        _apply(
            self, request, queryset, service=returns.return_request_approve, reason=reason, id_arg="return_id",
            details=lambda r: {"status": r.status, "refund": str(r.refund_amount.amount) if r.refund_amount else None},
            done_message=lambda n: ngettext(
                "%d return approved and refunded.", "%d returns approved and refunded.", n) % n,
        )
        return None

    @admin.action(description=_("Reject selected returns"))
    def reject(self, request, queryset):
        self.require(request, "reject")
        reason, page = _reason_or_page(
            self, request, queryset, action="reject", title=_("Reject returns"),
            explanation=_("Nothing is refunded; the shopper sees the reason in the order's timeline."),
            submit_label=_("Reject"),
        )
        if page is not None:
            return page
        _apply(self, request, queryset, service=returns.return_request_reject, reason=reason, id_arg="return_id",
               done_message=lambda n: ngettext("%d return rejected.", "%d returns rejected.", n) % n)
        return None


class OutboxDelivery(TextChoices):
    """Where an outbox e-mail stands: sent, still being tried, or given up after the last attempt."""

    SENT = "sent", _("sent")
    PENDING = "pending", _("being tried")
    GIVEN_UP = "given_up", _("given up")


class OutboxStateFilter(admin.SimpleListFilter):
    """Sent, still being tried, or given up after the last attempt (needs a person)."""

    title = _("delivery")
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return OutboxDelivery.choices

    def queryset(self, request, queryset):
        given_up = Q(sent_at__isnull=True, attempts__gte=outbox.outbox_max_attempts())
        if self.value() == OutboxDelivery.SENT:
            return queryset.filter(sent_at__isnull=False)
        if self.value() == OutboxDelivery.PENDING:
            return queryset.filter(sent_at__isnull=True).exclude(given_up)
        if self.value() == OutboxDelivery.GIVEN_UP:
            return queryset.filter(given_up)
        return queryset


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = ("key", "kind", "recipient", "created_at", "delivery", "sent_at", "attempts", "last_error")
    list_filter = (OutboxStateFilter, "kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "recipient", "order__number")
    # The context is shown with gift-card codes masked: staff never see a code a shopper was sent.
    fields = readonly_fields = [
        "context_shown" if f.name == "context" else f.name for f in OutboxEmail._meta.fields
    ]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("context"))
    def context_shown(self, row):
        return outbox.outbox_context_masked(row.context)

    @admin.display(description=_("delivery"))
    def delivery(self, row):
        if row.sent_at:
            return OutboxDelivery.SENT.label
        if row.attempts >= outbox.outbox_max_attempts():
            return OutboxDelivery.GIVEN_UP.label
        return OutboxDelivery.PENDING.label

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.method != "POST" and not request.user.has_perm(PERM_CHANGE_OUTBOX):
            actions.pop("send_again", None)
        return actions

    @admin.action(description=_("Send the selected unsent e-mails again now"))
    def send_again(self, request, queryset):
        if not request.user.has_perm(PERM_CHANGE_OUTBOX):
            raise PermissionDenied
        sent = 0
        for row in queryset.filter(sent_at__isnull=True):
            ok = outbox.outbox_email_retry(outbox_id=row.pk)
            sent += ok
            audit_record(actor=request.user, action="outbox_email_retry", obj=row, data={"ok": ok})
        self.message_user(
            request, ngettext("%d e-mail sent.", "%d e-mails sent.", sent) % sent,
            messages.SUCCESS if sent else messages.WARNING,
        )
