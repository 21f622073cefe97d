from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PspSandboxConfig(AppConfig):
    name = "payments.psp_sandbox"
    label = "psp_sandbox"
    verbose_name = _("Payment provider sandbox")
