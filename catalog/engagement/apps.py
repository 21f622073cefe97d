from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    name = "catalog.engagement"
    label = "engagement"
    verbose_name = _("Wishlists, stock alerts and review reports")

    def ready(self):
        from catalog.engagement import signals  # noqa: F401  (a restock tells the stock alerts)
