from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self):
        from shop.core import checks  # noqa: F401  (registers the deploy checks)
        from shop.core.logs import celery_logs_connect
        from shop.core.metrics import celery_metrics_connect

        celery_logs_connect()
        celery_metrics_connect()
