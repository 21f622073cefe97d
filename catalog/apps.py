from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    label = "catalog"
    verbose_name = _("Catalog")

    def ready(self):
        from catalog.reconciliation import stock_check
        from shop.core.reconciliation import reconciliation_check_register

        reconciliation_check_register("stock", stock_check)

        from catalog.metrics import catalog_metrics_register

        catalog_metrics_register()
