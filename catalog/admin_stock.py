"""Admin of warehouses, variants and stock rows: restock, adjust and transfer call catalog.services.stock."""

from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin, TranslationTabularInline

from catalog.forms import RestockForm, StockAdjustForm, StockTransferForm
from catalog.models import OptionValue, ProductOption, ProductType, ProductVariant, Stock, Warehouse
from catalog.services.stock import stock_adjust, stock_restock, stock_transfer
from catalog.services.warehouses import warehouse_set_active
from shop.core.exceptions import ShopError


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "country", "is_active", "priority", "ships_to")
    list_editable = ("is_active", "priority")
    list_filter = ("is_active", "country")
    search_fields = ("code", "name")

    def save_model(self, request, obj, form, change):
        # Switching on or off goes through the service (caches and facet counts follow).
        is_active = obj.is_active
        if change and "is_active" in form.changed_data:
            obj.is_active = not is_active
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            warehouse_set_active(warehouse_id=obj.pk, is_active=is_active)
            obj.is_active = is_active


class OptionValueInline(TranslationTabularInline):
    model = OptionValue
    extra = 1


@admin.register(ProductOption)
class ProductOptionAdmin(TranslationAdmin):
    list_display = ("name", "code", "product_type", "position")
    list_select_related = ("product_type",)
    inlines = [OptionValueInline]


class ProductOptionInline(TranslationTabularInline):
    model = ProductOption
    extra = 1
    show_change_link = True


@admin.register(ProductType)
class ProductTypeAdmin(admin.ModelAdmin):
    list_display = ("name",)
    inlines = [ProductOptionInline]


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    list_display = ("sku", "product", "price", "weight_grams", "is_default")
    list_select_related = ("product",)
    search_fields = ("sku", "product__name")
    autocomplete_fields = ()
    raw_id_fields = ("product",)
    filter_horizontal = ("option_values",)


class _StockActionMixin:
    def _stock_form_page(self, request, queryset, *, form, action: str, intro, submit):
        return render(
            request,
            "admin/catalog/stock/change_stock.html",
            {
                **self.admin_site.each_context(request),
                "title": submit,
                "intro": intro,
                "submit": submit,
                "form": form,
                "rows": queryset.select_related("variant", "warehouse"),
                "action": action,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def _apply(self, request, rows, fn) -> bool:
        """Run `fn(stock)` for each row (one at a time, each its own transaction); report what happened."""
        done = 0
        for stock in rows.order_by("variant_id", "warehouse_id"):
            try:
                fn(stock)
            except ShopError as exc:
                field = f" ({exc.field})" if exc.field else ""
                self.message_user(request, f"{stock.variant.sku} @ {stock.warehouse.code}{field}: {exc.message}",
                                  messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, _("%(n)d stock rows changed.") % {"n": done}, messages.SUCCESS)
        return True


@admin.register(Stock)
class StockAdmin(_StockActionMixin, admin.ModelAdmin):
    """Stock rows: read-only counters, changed only by the actions (each leaves a movement)."""

    list_display = ("variant", "warehouse", "on_hand", "reserved", "available", "committed")
    list_select_related = ("variant", "warehouse")
    list_filter = ("warehouse",)
    search_fields = ("variant__sku", "product__name")
    actions = ["restock", "adjust", "transfer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("available"))
    def available(self, obj):
        return obj.available

    @admin.action(description=_("Restock selected rows"), permissions=["change"])
    def restock(self, request, queryset):
        form = RestockForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            self._apply(request, queryset, lambda s: stock_restock(
                variant_id=s.variant_id, warehouse_id=s.warehouse_id, quantity=data["quantity"],
                reason=data["reason"], reference=data["reference"], actor=request.user,
            ))
            return None
        return self._stock_form_page(request, queryset, form=form, action="restock",
                                     intro=_("Add units on hand."), submit=_("Restock"))

    @admin.action(description=_("Adjust selected rows (stocktake, damage)"), permissions=["change"])
    def adjust(self, request, queryset):
        form = StockAdjustForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            self._apply(request, queryset, lambda s: stock_adjust(
                variant_id=s.variant_id, warehouse_id=s.warehouse_id, delta=data["delta"],
                reason=data["reason"], reference=data["reference"], actor=request.user,
            ))
            return None
        return self._stock_form_page(request, queryset, form=form, action="adjust",
                                     intro=_("Correct units on hand; never below what is reserved."),
                                     submit=_("Adjust"))

    @admin.action(description=_("Transfer from selected rows to another warehouse"), permissions=["change"])
    def transfer(self, request, queryset):
        form = StockTransferForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            self._apply(request, queryset, lambda s: stock_transfer(
                variant_id=s.variant_id, from_warehouse_id=s.warehouse_id, to_warehouse_id=data["to_warehouse"].pk,
                quantity=data["quantity"], reason=data["reason"], reference=data["reference"], actor=request.user,
            ))
            return None
        return self._stock_form_page(request, queryset, form=form, action="transfer",
                                     intro=_("Move units not reserved to another warehouse (two balanced movements)."),
                                     submit=_("Transfer"))
