from django.apps import AppConfig


class PspSandboxConfig(AppConfig):
    name = "payments.psp_sandbox"
    label = "psp_sandbox"
