"""Catalog admin: every change goes through catalog.services (stock, images, prices, rates)."""

import csv
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum, TextChoices
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from djmoney.contrib.exchange.admin import RateAdmin as DjmoneyRateAdmin
from djmoney.contrib.exchange.models import Rate
from modeltranslation.admin import TranslationAdmin
from treebeard.admin import TreeAdmin
from treebeard.exceptions import InvalidMoveToDescendant, InvalidPosition, MissingNodeOrderBy, PathOverflow
from treebeard.forms import movenodeform_factory

import catalog.admin_stock  # noqa: F401 (registers warehouse, variant and stock admins)
from catalog.forms import ProductImportForm, RestockForm
from catalog.models import (
    BoughtTogether,
    Category,
    Product,
    ProductImage,
    ProductPurchase,
    Review,
    Stock,
    StockMovement,
    StockReservation,
)
from catalog.selectors.csv_export import products_export_rows
from catalog.services.categories import category_delete, category_move, category_update
from catalog.services.csv_import import products_import_csv
from catalog.services.prices import exchange_backend, exchange_rates_changed
from catalog.services.products import (
    PRODUCT_UPDATABLE,
    product_create,
    product_image_add,
    product_image_delete,
    product_set_active,
    product_update,
)
from catalog.services.reviews import review_delete
from catalog.services.stock import stock_restock
from catalog.translation import localized_fields
from shop.core.exceptions import ShopError


class MoveRelation(TextChoices):
    """Where a dragged category lands relative to the target (treebeard's move form)."""

    CHILD = "child", "child"
    SIBLING = "sibling", "sibling"


@admin.register(Category)
class CategoryAdmin(TranslationAdmin, TreeAdmin):
    """Names and descriptions in every shop language, side by side (django-modeltranslation's TranslationAdmin:
    its tabbed variant loads jQuery UI from a CDN, which the shop does not use)."""

    form = movenodeform_factory(Category)
    list_display = ("name", "slug")
    search_fields = [*localized_fields("name"), "slug"]
    prepopulated_fields = {"slug": ("name_en",)}

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Renames (in any language) reach the products' search text and the cached tree.
        category = form.instance
        translations = {
            column: getattr(category, column)
            for column in [*localized_fields("name"), *localized_fields("description")]
            if column not in ("name_en", "description_en")
        }
        category_update(
            category=category, name=category.name_en, description=category.description_en or "",
            translations=translations,
        )

    def delete_model(self, request, obj):
        category_delete(category_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        category_delete(category_ids=list(queryset.values_list("pk", flat=True)))

    def move_node(self, request):
        """Drag and drop in the tree: treebeard's checks, then the move through catalog.services."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = CategoryMoveForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Invalid form data provided"))
            return HttpResponseBadRequest("Invalid form data provided")
        node, target, relation = (form.cleaned_data[k] for k in ("node", "target", "relation"))
        pos = {MoveRelation.CHILD: "sorted-child", MoveRelation.SIBLING: "sorted-sibling"}[relation]
        try:
            category_move(category=node, target=target, pos=pos)
        except (InvalidMoveToDescendant, InvalidPosition, MissingNodeOrderBy, PathOverflow) as exc:
            messages.error(request, str(exc))
            return HttpResponseBadRequest("Exception raised during move")
        message = _('Moved node "%(node)s" as child of "%(other)s"') if relation == MoveRelation.CHILD else _(
            'Moved node "%(node)s" as sibling of "%(other)s"'
        )
        messages.info(request, message % {"node": node, "other": target})
        return HttpResponse("OK")


class CategoryMoveForm(forms.Form):
    node = forms.ModelChoiceField(queryset=Category.objects.all())
    target = forms.ModelChoiceField(queryset=Category.objects.all())
    relation = forms.ChoiceField(choices=MoveRelation.choices)


class StockInline(admin.TabularInline):
    model = Stock
    can_delete = False
    extra = 0
    fields = ("variant", "warehouse", "on_hand", "reserved", "available", "committed")
    readonly_fields = ("variant", "warehouse", "on_hand", "reserved", "available", "committed")
    verbose_name_plural = _("stock (change it with the restock, adjust and transfer actions of Stock)")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("available"))
    def available(self, obj):
        return obj.available


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 1
    fields = ("preview", "image", "alt", "position")
    readonly_fields = ("preview",)

    @admin.display(description=_("thumbnail"))
    def preview(self, obj):
        if obj.pk and obj.thumbnail:
            return format_html('<img src="{}" width="80" height="80" alt="">', obj.thumbnail.url)
        return ""


def _stock_sum(column: str):
    return (
        Stock.objects.filter(product_id=OuterRef("pk")).order_by().values("product_id")
        .annotate(total=Sum(column)).values("total")[:1]
    )


@admin.register(Product)
class ProductAdmin(TranslationAdmin):
    # Active right after the name: the state stays in view at 1280 px however long the names.
    list_display = ("sku", "name", "is_active", "brand", "category", "price", "on_hand", "reserved", "rating_avg")
    list_select_related = ("category",)
    list_filter = ("is_active", "is_gift_card", "brand", ("category", admin.RelatedOnlyFieldListFilter))
    search_fields = ("sku", *localized_fields("name"), "brand")
    ordering = ("-id",)
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "sku", "slug", "name", "brand", "category", "price", "is_active", "is_gift_card", "description", "attributes",
    )
    inlines = [StockInline, ProductImageInline]
    actions = ["activate", "deactivate", "restock", "export_csv"]
    change_list_template = "admin/catalog/product/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return ("sku",) if obj is not None else ()

    def get_queryset(self, request):
        # Over every variant and warehouse, in the list's one query.
        return super().get_queryset(request).annotate(
            total_on_hand=Coalesce(Subquery(_stock_sum("on_hand")), 0),
            total_reserved=Coalesce(Subquery(_stock_sum("reserved")), 0),
        )

    @admin.display(description=_("on hand"), ordering="total_on_hand")
    def on_hand(self, obj):
        return obj.total_on_hand

    @admin.display(description=_("reserved"), ordering="total_reserved")
    def reserved(self, obj):
        return obj.total_reserved

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in PRODUCT_UPDATABLE if f in form.cleaned_data}
        if change:
            product_update(product=obj, **data)
        else:
            # The English columns are the service's name and description; the others its translations.
            data["name"] = data.pop("name_en")
            data["description"] = data.pop("description_en", "") or ""
            translations = {key: data.pop(key) for key in list(data) if key.startswith(("name_", "description_"))}
            created = product_create(
                sku=form.cleaned_data["sku"], actor=request.user, translations=translations, **data
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj._state.db = created._state.db

    def save_formset(self, request, form, formset, change):
        if formset.model is not ProductImage:
            return super().save_formset(request, form, formset, change)
        # New uploads go through the service (thumbnail); the change message reads these lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        with transaction.atomic():
            for deleted in formset.deleted_forms:
                if deleted.instance.pk:
                    formset.deleted_objects.append(deleted.instance)
                    product_image_delete(image=deleted.instance)
            for image_form in formset.forms:
                if image_form in formset.deleted_forms or not image_form.has_changed():
                    continue
                if image_form.instance.pk and "image" not in image_form.changed_data:
                    image_form.save()
                    continue
                upload = image_form.cleaned_data.get("image")
                if not upload:
                    continue
                try:
                    image = product_image_add(
                        product=form.instance,
                        data=upload.read(),
                        filename=upload.name,
                        alt=image_form.cleaned_data.get("alt", ""),
                    )
                except ShopError as exc:
                    messages.error(request, str(exc.message))
                else:
                    formset.new_objects.append(image)

    @admin.action(description=_("Activate selected products"), permissions=["change"])
    def activate(self, request, queryset):
        changed = product_set_active(product_ids=queryset.values_list("pk", flat=True), is_active=True)
        self.message_user(request, ngettext("%d product activated.", "%d products activated.", changed) % changed)

    @admin.action(description=_("Deactivate selected products"), permissions=["change"])
    def deactivate(self, request, queryset):
        changed = product_set_active(product_ids=queryset.values_list("pk", flat=True), is_active=False)
        self.message_user(request, ngettext("%d product deactivated.", "%d products deactivated.", changed) % changed)

    @admin.action(description=_("Restock selected products"), permissions=["change"])
    def restock(self, request, queryset):
        if "apply" in request.POST:
            form = RestockForm(request.POST)
            if form.is_valid():
                ids = sorted(queryset.values_list("pk", flat=True))
                with transaction.atomic():
                    for product_id in ids:
                        stock_restock(
                            product_id=product_id,
                            quantity=form.cleaned_data["quantity"],
                            actor=request.user,
                            reason=form.cleaned_data["reason"],
                            reference=form.cleaned_data["reference"],
                        )
                self.message_user(
                    request,
                    ngettext("%d product restocked.", "%d products restocked.", len(ids)) % len(ids),
                    messages.SUCCESS,
                )
                return None
        else:
            form = RestockForm()
        return render(
            request,
            "admin/catalog/product/restock.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Restock products"),
                "form": form,
                "products": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Export selected products as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="products.csv"'
        writer = csv.writer(response)
        for row in products_export_rows(queryset):
            writer.writerow(row)
        return response

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_csv), name="catalog_product_import"),
            *super().get_urls(),
        ]

    def import_csv(self, request):
        if not self.has_add_permission(request) or not self.has_change_permission(request):
            raise PermissionDenied
        form = ProductImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                counts = products_import_csv(data=form.cleaned_data["file"].read(), actor=request.user)
            except ShopError as exc:
                form.add_error("file", str(exc.message))
            else:
                self.message_user(
                    request,
                    _("Imported: %(created)d created, %(updated)d updated.") % counts,
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:catalog_product_changelist"))
        return render(
            request,
            "admin/catalog/product/import.html",
            {**self.admin_site.each_context(request), "title": _("Import products"), "form": form, "opts": self.model._meta},
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "variant", "warehouse", "kind", "on_hand_delta", "reserved_delta", "committed_delta", "reference",
        "reason", "actor",
    )
    list_filter = ("kind", "warehouse")
    search_fields = ("reference", "variant__sku", "reason")
    list_select_related = ("variant", "warehouse", "actor")
    show_full_result_count = False


@admin.register(StockReservation)
class StockReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "status", "variant", "warehouse", "quantity", "expires_at", "created_at")
    list_filter = ("status", "warehouse")
    search_fields = ("reference", "variant__sku")
    list_select_related = ("variant", "warehouse")


@admin.register(ProductPurchase)
class ProductPurchaseAdmin(ReadOnlyAdmin):
    list_display = ("reference", "user", "product", "quantity", "created_at")
    search_fields = ("reference", "product__sku", "user__email")
    list_select_related = ("product", "user")


@admin.register(BoughtTogether)
class BoughtTogetherAdmin(ReadOnlyAdmin):
    list_display = ("product", "other", "count")
    list_select_related = ("product", "other")
    search_fields = ("product__sku",)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("product", "user", "rating", "helpful_count", "title", "created_at")
    list_filter = ("rating",)
    search_fields = ("product__sku", "user__email", "title")
    list_select_related = ("product", "user")
    readonly_fields = ("product", "user", "rating", "created_at")
    actions = ["delete_reviews"]

    def has_add_permission(self, request):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion must recompute the rating
        return actions

    def delete_model(self, request, obj):
        review_delete(review_id=obj.pk)

    @admin.action(description=_("Delete selected reviews"), permissions=["delete"])
    def delete_reviews(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for review_id in ids:
            review_delete(review_id=review_id)
        self.message_user(request, ngettext("%d review deleted.", "%d reviews deleted.", len(ids)) % len(ids))


# Staff edit exchange rates here; the cached rates, facet counts and catalog pages follow at once.
admin.site.unregister(Rate)


class RateForm(forms.ModelForm):
    """One rate of the shop's exchange backend: from the base currency to a supported one."""

    currency = forms.ChoiceField(label=_("Currency"))
    value = forms.DecimalField(label=_("Rate"), max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))

    class Meta:
        model = Rate
        fields = ("currency", "value")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(code, code) for code in settings.CURRENCIES]
        self.fields["value"].help_text = _("How much one %(base)s is worth in this currency.") % {
            "base": settings.BASE_CURRENCY
        }

    def clean_currency(self):
        currency = self.cleaned_data["currency"]
        taken = Rate.objects.filter(backend_id=exchange_backend().name, currency=currency)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(_("There is already a rate for %(currency)s.") % {"currency": currency})
        return currency

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("currency") == settings.BASE_CURRENCY and cleaned.get("value") not in (None, Decimal(1)):
            self.add_error("value", _("The base currency's rate to itself is always 1."))
        return cleaned


@admin.register(Rate)
class RateAdmin(DjmoneyRateAdmin):
    form = RateForm
    readonly_fields = ()

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            obj.backend = exchange_backend()
            super().save_model(request, obj, form, change)
            exchange_rates_changed()

    def delete_model(self, request, obj):
        with transaction.atomic():
            super().delete_model(request, obj)
            exchange_rates_changed()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            exchange_rates_changed()
