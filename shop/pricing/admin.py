"""Admin for tax rates, product tax classes, promotions and vouchers; redemptions are read-only records."""

from django.contrib import admin

from catalog.cache import catalog_cache_invalidate
from shop.pricing.models import (
    ProductTaxClass,
    Promotion,
    PromotionAmount,
    TaxRate,
    Voucher,
    VoucherAmount,
    VoucherRedemption,
)


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("country", "region", "tax_class", "rate", "note")
    list_filter = ("country", "tax_class")
    search_fields = ("country", "region", "note")


@admin.register(ProductTaxClass)
class ProductTaxClassAdmin(admin.ModelAdmin):
    list_display = ("product", "tax_class")
    list_filter = ("tax_class",)
    autocomplete_fields = ("product",)
    search_fields = ("product__name", "product__sku")


class PromotionAmountInline(admin.TabularInline):
    model = PromotionAmount
    extra = 0


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "percentage", "starts_at", "ends_at", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    filter_horizontal = ("products", "categories")
    inlines = [PromotionAmountInline]

    # Listings and product pages show promoted prices from cached rules and fragments:
    # a changed promotion starts a new catalog version once it is committed.
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        catalog_cache_invalidate()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalog_cache_invalidate()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalog_cache_invalidate()


class VoucherAmountInline(admin.TabularInline):
    model = VoucherAmount
    extra = 0


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = (  # active right after the code: visible at 1280 px
        "code",
        "is_active",
        "kind",
        "percentage",
        "uses",
        "usage_limit",
        "per_customer_limit",
        "starts_at",
        "ends_at",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("code",)
    readonly_fields = ("uses",)
    inlines = [VoucherAmountInline]


@admin.register(VoucherRedemption)
class VoucherRedemptionAdmin(admin.ModelAdmin):
    """Redemptions are written by shop.pricing.services.vouchers only; staff read them here."""

    list_display = ("voucher", "reference", "user", "email", "created_at", "released_at")
    list_filter = ("released_at",)
    search_fields = ("voucher__code", "reference", "email")
    list_select_related = ("voucher", "user")
    readonly_fields = ("voucher", "user", "email", "reference", "created_at", "released_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
