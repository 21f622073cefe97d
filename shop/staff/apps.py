from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    """Cross-app staff pages inside the admin; no models (their permission stays on payments' models)."""

    name = "shop.staff"
    label = "staff"
    verbose_name = _("Staff")
