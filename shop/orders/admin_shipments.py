"""The order page's shipment buttons in admin: create a shipment, mark a parcel delivered.

Both are pages of OrderAdmin (its get_urls): a form that asks what the
service needs and, like the order's other buttons, a reason; the same
services as the list actions and the carrier webhook do the work, and the
outcome (done, or refused and why) goes to the audit log.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from catalog.models import Warehouse
from payments.audit import audit_record
from shop.core.exceptions import ShopError
from shop.orders.models import Order, Shipment
from shop.orders.selectors import order_unshipped_by_warehouse
from shop.orders.services.shipments import shipment_create, shipment_deliver
from shop.shipping.models import Carrier

PERM_CHANGE_ORDER = "orders.change_order"
REASON_HELP = _("Kept in the audit log and shown in the order's timeline, which the shopper sees too.")


class ShipmentCreateForm(forms.Form):
    """Which units of which lines, from which warehouse, with which carrier and tracking number."""

    warehouse = forms.ModelChoiceField(label=_("Warehouse"), queryset=Warehouse.objects.none())
    carrier = forms.ModelChoiceField(label=_("Carrier"), queryset=Carrier.objects.filter(is_active=True))
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100)
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=REASON_HELP)

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order
        left = order_unshipped_by_warehouse(order.pk)
        self.fields["warehouse"].queryset = Warehouse.objects.filter(pk__in=left)
        names = {w.pk: w.name for w in Warehouse.objects.filter(pk__in=left)}
        for line in order.lines.all():
            there = [(names[wid], per[line.id]) for wid, per in sorted(left.items()) if line.id in per]
            self.fields[f"line_{line.id}"] = forms.IntegerField(
                label=f"{line.name} ({line.sku})", min_value=0, max_value=line.quantity, initial=0, required=False,
                help_text=_("Left to ship: %(where)s") % {
                    "where": ", ".join(f"{name} {n}" for name, n in there) or "0"
                },
            )

    def line_fields(self):
        return [self[name] for name in self.fields if name.startswith("line_")]

    def lines(self) -> dict[int, int]:
        return {
            int(name.removeprefix("line_")): value or 0
            for name, value in self.cleaned_data.items() if name.startswith("line_")
        }


class ShipmentDeliverForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=REASON_HELP)


def _order_or_404(modeladmin, request, object_id) -> Order:
    if not request.user.has_perm(PERM_CHANGE_ORDER):
        raise PermissionDenied
    order = modeladmin.get_object(request, object_id)
    if order is None:
        raise Http404
    return order


def _page(modeladmin, request, order, *, form, title, explanation, submit_label):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title, "explanation": explanation, "submit_label": submit_label, "form": form,
        "original": order, "opts": Order._meta,
        "back": reverse("admin:orders_order_change", args=[order.pk]),
    }
    return TemplateResponse(request, "admin/orders/order/shipment_form.html", context)


def _refused(request, form, exc: ShopError, *, action: str, order, reason: str) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc.message))
    audit_record(actor=request.user, action=action, obj=order, reason=reason,
                 data={"ok": False, "refused": str(exc.code), "detail": str(exc.message)})


def shipment_create_view(modeladmin, request, object_id):
    """GET: the form; POST: shipment_create, then back to the order (or the form with what was wrong)."""
    order = _order_or_404(modeladmin, request, object_id)
    form = ShipmentCreateForm(request.POST or None, order=order)
    if request.method == "POST" and form.is_valid():
        data, reason = form.cleaned_data, form.cleaned_data["reason"].strip()
        try:
            shipment = shipment_create(
                order=order, lines=form.lines(), warehouse=data["warehouse"], carrier=data["carrier"],
                tracking_number=data["tracking_number"], actor=request.user, reason=reason,
            )
        except ShopError as exc:
            _refused(request, form, exc, action="shipment_create", order=order, reason=reason)
        else:
            audit_record(actor=request.user, action="shipment_create", obj=order, reason=reason,
                         data={"ok": True, "shipment": shipment.pk, "tracking_number": shipment.tracking_number})
            modeladmin.message_user(
                request, _("Shipment %(number)s created.") % {"number": shipment.tracking_number}, messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
    return _page(
        modeladmin, request, order, form=form, title=_("Create a shipment of %(order)s") % {"order": order},
        explanation=_("Choose the warehouse the parcel leaves from and how many units of each line it holds. "
                      "The shopper is e-mailed the tracking link."),
        submit_label=_("Create shipment"),
    )


def shipment_deliver_view(modeladmin, request, object_id, shipment_id):
    """GET: ask for the reason; POST: shipment_deliver, then back to the order."""
    order = _order_or_404(modeladmin, request, object_id)
    shipment = Shipment.objects.filter(pk=shipment_id, order=order).select_related("carrier").first()
    if shipment is None:
        raise Http404
    form = ShipmentDeliverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"].strip()
        try:
            shipment_deliver(shipment=shipment, actor=request.user, reason=reason)
        except ShopError as exc:
            _refused(request, form, exc, action="shipment_deliver", order=order, reason=reason)
        else:
            audit_record(actor=request.user, action="shipment_deliver", obj=order, reason=reason,
                         data={"ok": True, "shipment": shipment.pk})
            modeladmin.message_user(
                request, _("Parcel %(number)s marked delivered.") % {"number": shipment.tracking_number},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
    return _page(
        modeladmin, request, order, form=form,
        title=_("Mark parcel %(number)s delivered") % {"number": shipment.tracking_number},
        explanation=_("Say how the delivery is known (carrier confirmation, signature). "
                      "The order is delivered when all its parcels are."),
        submit_label=_("Mark delivered"),
    )
