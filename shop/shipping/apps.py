from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShippingConfig(AppConfig):
    name = "shop.shipping"
    label = "shipping"
    verbose_name = _("Shipping")

    def ready(self):
        from shop.core.rules_cache import pricing_rules_watch
        from shop.shipping.models import (
            Carrier,
            ShippingMethod,
            ShippingMethodPrice,
            ShippingZone,
            WeightBand,
        )

        # Quotes read every method with its carrier, zones, prices and bands from the pricing rules cache.
        pricing_rules_watch(Carrier, ShippingZone, ShippingMethod, ShippingMethodPrice, WeightBand)
