from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PricingConfig(AppConfig):
    name = "shop.pricing"
    label = "pricing"
    verbose_name = _("Pricing")

    def ready(self):
        from catalog.models import Category
        from shop.core.rules_cache import pricing_rules_watch
        from shop.pricing.models import ProductTaxClass, Promotion, PromotionAmount, TaxRate

        # Carts and checkout read these from the pricing rules cache; categories for the paths that
        # widen a promotion's categories to their subcategories.
        pricing_rules_watch(TaxRate, ProductTaxClass, Promotion, PromotionAmount, Category)
