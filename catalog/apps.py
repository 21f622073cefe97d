from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    label = "catalog"
    verbose_name = _("Catalog")

    def ready(self):
        from accounts.privacy import privacy_erase_register, privacy_export_register
        from catalog.privacy import catalog_erase, purchases_export, reviews_export
        from catalog.reconciliation import stock_check
        from shop.core.reconciliation import reconciliation_check_register

        reconciliation_check_register("stock", stock_check)
        privacy_export_register("reviews", reviews_export)
        privacy_export_register("purchases", purchases_export)
        privacy_erase_register("catalog", catalog_erase)

        from catalog.metrics import catalog_metrics_register
        from catalog.services.price_from import price_from_receivers_connect

        price_from_receivers_connect()

        catalog_metrics_register()
