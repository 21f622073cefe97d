from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def beat_schedule_sync(*, using: str = "default", **kwargs) -> None:
    """Write CELERY_BEAT_SCHEDULE into django-celery-beat's tables, as beat does when it starts.

    Run after every migrate, so staff see (and may pause) every job in admin
    before beat has ever run, and a job added in code appears with the deploy.
    """
    # Inside: django-celery-beat's models, and the Celery app that reads them, load once the apps are ready.
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    from shop.celery import app

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated only part of the way: the next full migrate writes it
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=app, **entry)


THIRD_PARTY_SECTION_NAMES = {
    "account": _("Sign-in e-mail addresses"),
    "exchange": _("Exchange rates"),
}


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self):
        from shop.core import checks  # noqa: F401  (registers the deploy checks)

        # Admin sections of third-party apps, named for staff: allauth's "Accounts" holds only
        # sign-in e-mail addresses (the shop's own users are "Shoppers and staff"), and
        # django-money's "Exchange" holds exchange rates.
        for label, name in THIRD_PARTY_SECTION_NAMES.items():
            self.apps.get_app_config(label).verbose_name = name

        # Sent once per app with models; django_celery_beat's is the one whose tables this fills.
        post_migrate.connect(
            beat_schedule_sync,
            sender=self.apps.get_app_config("django_celery_beat"),
            dispatch_uid="shop.beat_schedule_sync",
        )

        from shop.core.db import replica_signals_connect

        replica_signals_connect()
        from shop.core.logs import celery_logs_connect
        from shop.core.metrics import celery_metrics_connect

        celery_logs_connect()
        celery_metrics_connect()
