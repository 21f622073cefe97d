"""Deploy checks of our own (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def payment_sandbox_check(app_configs, **kwargs):
    """The sandbox provider accepts test cards: in production it would fund wallets for free."""
    if settings.PSP_SANDBOX_ENABLED:
        return [
            Warning(
                "The payment sandbox is enabled: anyone can fund a wallet with a test card token.",
                hint="Set PSP_SANDBOX_ENABLED=0 and configure PAYMENT_GATEWAY_URL, PSP_API_KEY and "
                "PAYMENT_WEBHOOK_SECRET for the real provider.",
                id="shop.W001",
            )
        ]
    return []
